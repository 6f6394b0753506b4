//! The disk fills (issue 12): whole seeded sessions with the session directory, or the order
//! ledger, on a tiny real filesystem (a tmpfs of a few dozen KiB, mounted by the test).
//!
//! - Telemetry's disk full: trading goes on exactly as with room to spare (same orders, same
//!   fills, same PnL), the lost events are counted, and the session's exit code says so.
//! - The ledger's disk full: the ledger refuses the write, the router fails closed, and no order
//!   is sent that the ledger did not record.
//!
//! Mounting needs root (`mount -t tmpfs`), which CI's machine has. Where the mount is refused the
//! tests say so on stderr and check nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use bot::{LoadedSettings, SessionOptions, SessionOutcome, Settings, SettingsSources, VenueCredentials};
use rust_decimal::Decimal;
use telemetry::{read_events, Event};

/// A tmpfs of `kib` KiB mounted on a fresh temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(kib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs { dir }),
            _ => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here (needs root); the disk-full checks did not run"
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn settings(session_dir: &Path, state_db: &Path) -> LoadedSettings {
    let flags: Vec<(String, String)> = [
        ("SESSION_DIR", session_dir.display().to_string()),
        ("STATE_DB", state_db.display().to_string()),
        ("SIM_SYMBOLS", "60".into()),
        ("SESSION_DURATION_MIN", "120".into()),
        ("SIM_SEED", "7".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Settings::load(&SettingsSources { flags, ..SettingsSources::default() }).unwrap()
}

fn run(loaded: &LoadedSettings) -> SessionOutcome {
    let options = SessionOptions { write_report: true, ..SessionOptions::default() };
    bot::run_session(loaded, &VenueCredentials::default(), &options).unwrap()
}

/// What traded: orders sent and filled, positions, PnL, and the budget at the end.
fn trading(out: &SessionOutcome) -> (u64, u64, u64, u64, Decimal, (Decimal, Decimal, Decimal, Decimal)) {
    (
        out.orders_submitted,
        out.orders_filled,
        out.positions_opened,
        out.positions_closed,
        out.realized_pnl,
        out.budget,
    )
}

#[test]
fn a_full_disk_under_telemetry_loses_events_counted_and_trading_goes_on_unchanged() {
    let Some(tiny) = Tmpfs::mount(96) else { return };
    let roomy = tempfile::tempdir().unwrap();

    let baseline = run(&settings(&roomy.path().join("sessions"), &roomy.path().join("a.sqlite")));
    assert_eq!(baseline.exit_code, 0);
    assert_eq!(baseline.events_dropped, 0);
    assert!(baseline.orders_filled > 0, "{baseline:#?}");
    let full = run(&settings(&tiny.path().join("sessions"), &roomy.path().join("b.sqlite")));

    // Trading did not notice: the same orders, fills, positions, PnL and budget.
    assert_eq!(trading(&full), trading(&baseline));
    // The loss is counted, and the exit code reports it.
    assert!(full.events_dropped > 0, "{full:#?}");
    assert_eq!(
        full.events_written + full.events_dropped,
        baseline.events_written,
        "every event is written or counted"
    );
    assert_ne!(full.exit_code, 0, "a session that lost events does not end clean");
    // What was written reads back; at most the line the disk filled in is torn, and the reader
    // names it (it is among the events counted as lost).
    let log = read_events(&full.dir.join("events.jsonl")).unwrap();
    assert!(!log.records.is_empty());
    assert!(log.errors.len() <= 1, "{:?}", log.errors);
    if let Some(torn) = log.errors.first() {
        assert_eq!(torn.line(), log.records.len() as u64 + 1, "only the last line is torn");
    }
}

#[test]
fn a_full_disk_under_the_ledger_refuses_writes_and_no_order_goes_unrecorded() {
    let Some(tiny) = Tmpfs::mount(256) else { return };
    let roomy = tempfile::tempdir().unwrap();
    let ledger = tiny.path().join("ledger.sqlite");
    let out = run(&settings(&roomy.path().join("sessions"), &ledger));

    let log = read_events(&out.dir.join("events.jsonl")).unwrap();
    assert!(log.errors.is_empty());
    assert_eq!(out.events_dropped, 0, "telemetry has room: nothing is lost there");
    let submitted: Vec<String> = log
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::OrderSubmitted { client_order_id, .. } => Some(client_order_id.to_string()),
            _ => None,
        })
        .collect();
    let refused = log.records.iter().any(|r| match &r.event {
        Event::Reconciled { detail, blocks_trading: true, .. } => detail.contains("ledger"),
        Event::IntentRejected { reason, .. } => reason.contains("ledger"),
        _ => false,
    });
    assert!(!submitted.is_empty(), "the ledger had room for the first orders: {out:#?}");
    assert!(refused, "the full ledger refused a write and said so");

    // Every order that went out is in the ledger: nothing was sent that it could not record.
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    let mut stmt = conn.prepare("SELECT client_order_id FROM intents").unwrap();
    let recorded: BTreeSet<String> =
        stmt.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
    for id in &submitted {
        assert!(recorded.contains(id), "order {id} was sent but is not in the ledger");
    }
    // Fewer orders than with room to spare: trading stopped when the ledger could not record.
    let roomy_run = run(&settings(&roomy.path().join("sessions2"), &roomy.path().join("c.sqlite")));
    assert!(submitted.len() < usize::try_from(roomy_run.orders_submitted).unwrap(), "{out:#?}");
    // The budget is whole and nothing stays reserved for an order that never went out.
    let (free, reserved, committed, total) = out.budget;
    assert_eq!(free + reserved + committed, total);
    assert_eq!(reserved, Decimal::ZERO, "{out:#?}");
}
