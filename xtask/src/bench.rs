//! `cargo xtask bench`: every benchmark of the project in one run, printed as one table.
//!
//! Three suites, each measured against a baseline taken in the same run (a figure on its own
//! says little on a shared 2-core machine; a ratio to a neighbour measured minutes apart does):
//! - `criterion`: the crates' criterion benches; a group's `baseline_*` member is the baseline
//!   of the others in the group.
//! - `feed`: md-feed's `feed_bench --table` (the feed against the simulator's HTTP server, bulk
//!   and per-symbol); the baseline is the plain `fetch_tickers` loop of the same table.
//! - `session`: release `bot run` sessions of 24 simulated hours, 130 and 2000 symbols, five
//!   runs of each: the median wall time with the range, and the peak RSS (the targets:
//!   5 s, 60 s, 100 MB); the baseline is the target.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    suite: &'static str,
    name: String,
    value: f64,
    unit: &'static str,
    /// The baseline's name and value (same unit), if the row has one.
    baseline: Option<(String, f64)>,
}

/// Which suites to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suites {
    /// Criterion (all packages or one), the feed table and the sessions.
    All,
    /// Criterion only.
    Criterion,
    /// The feed table only.
    Feed,
    /// The session wall times only.
    Session,
}

/// Runs the suites and prints one Markdown table.
pub(crate) fn run(root: &Path, suites: Suites, package: Option<&str>) -> Result<()> {
    let mut rows = Vec::new();
    if matches!(suites, Suites::All | Suites::Criterion) {
        rows.extend(criterion(root, package)?);
    }
    if matches!(suites, Suites::All | Suites::Feed) && package.is_none() {
        rows.extend(feed(root)?);
    }
    if matches!(suites, Suites::All | Suites::Session) && package.is_none() {
        rows.extend(sessions(root)?);
    }
    // The table is this command's output (progress and cargo's own lines go to stderr).
    #[allow(clippy::print_stdout)]
    {
        println!("{}", table(&rows));
    }
    Ok(())
}

/// The rows as a Markdown table.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| suite | benchmark | value | baseline (same run) | ratio to baseline |\n|---|---|---:|---|---:|\n",
    );
    for r in rows {
        let (baseline, ratio) = match &r.baseline {
            Some((name, v)) if *v > 0.0 => {
                (format!("{name}: {}", human(*v, r.unit)), format!("{:.2}x", r.value / v))
            }
            _ => ("-".to_owned(), "-".to_owned()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {baseline} | {ratio} |\n",
            r.suite,
            r.name,
            human(r.value, r.unit)
        ));
    }
    out
}

/// A value with its unit, nanoseconds scaled to the largest readable unit.
fn human(value: f64, unit: &str) -> String {
    if unit != "ns" {
        return format!("{value:.1} {unit}");
    }
    let (v, u) = match value {
        v if v >= 1e9 => (v / 1e9, "s"),
        v if v >= 1e6 => (v / 1e6, "ms"),
        v if v >= 1e3 => (v / 1e3, "µs"),
        v => (v, "ns"),
    };
    format!("{v:.2} {u}")
}

// ---------------------------------------------------------------------------------------------
// criterion

fn criterion(root: &Path, package: Option<&str>) -> Result<Vec<Row>> {
    let out_dir = root.join("target/criterion");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // Results written after this marker belong to this run (file times, not a clock read).
    let marker = out_dir.join(".xtask-bench-start");
    fs::write(&marker, b"").with_context(|| format!("writing {}", marker.display()))?;
    let since = fs::metadata(&marker)?.modified()?;
    let mut args = vec!["bench", "--locked"];
    match package {
        Some(p) => args.extend(["-p", p]),
        None => args.push("--workspace"),
    }
    crate::cargo(root, &args, &[])?;
    criterion_rows(&out_dir, since)
}

/// Reads criterion's `new/benchmark.json` + `new/estimates.json` pairs written since `since`.
pub(crate) fn criterion_rows(out_dir: &Path, since: SystemTime) -> Result<Vec<Row>> {
    let mut found: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut stack = vec![out_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.ends_with("new/benchmark.json") {
                if fs::metadata(&path)?.modified()? < since {
                    continue;
                }
                let id = read_json(&path)?;
                let estimates = read_json(&path.with_file_name("estimates.json"))?;
                let group = id["group_id"].as_str().unwrap_or_default().to_owned();
                let mut name = id["function_id"].as_str().unwrap_or_default().to_owned();
                if let Some(param) = id["value_str"].as_str() {
                    name = format!("{name}/{param}");
                }
                let Some(median) = estimates["median"]["point_estimate"].as_f64() else {
                    bail!("{}: no median estimate", path.display());
                };
                found.insert((group, name), median);
            }
        }
    }
    let mut rows = Vec::new();
    for ((group, name), median) in &found {
        let baseline = found
            .iter()
            .find(|((g, n), _)| g == group && n.starts_with("baseline") && n != name)
            .map(|((_, n), v)| (n.clone(), *v));
        rows.push(Row {
            suite: "criterion",
            name: format!("{group}/{name}"),
            value: *median,
            unit: "ns",
            baseline: if name.starts_with("baseline") { None } else { baseline },
        });
    }
    Ok(rows)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// feed

fn feed(root: &Path) -> Result<Vec<Row>> {
    let args = [
        "run",
        "--release",
        "--locked",
        "--quiet",
        "-p",
        "md-feed",
        "--example",
        "feed_bench",
        "--",
        "--table",
    ];
    eprintln!("xtask: $ cargo {}", args.join(" "));
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(args)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("running the feed benchmark")?;
    if !output.status.success() {
        bail!("the feed benchmark failed ({})", output.status);
    }
    feed_rows(&String::from_utf8_lossy(&output.stdout))
}

/// Rows from `feed_bench --table`: the cycle p50 and p99 per size and mode, against the plain
/// loop's p50 and p99 for the same size.
pub(crate) fn feed_rows(text: &str) -> Result<Vec<Row>> {
    let cells = |line: &str| -> Vec<String> {
        line.trim().trim_matches('|').split('|').map(|c| c.trim().to_owned()).collect()
    };
    let number = |s: &str| s.parse::<f64>().ok();
    let mut measured = Vec::new();
    let mut baselines: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut in_baseline = false;
    for line in text.lines() {
        if line.starts_with("baseline, same run: a plain loop of `fetch_tickers") {
            in_baseline = true;
        }
        if !line.starts_with('|') || line.starts_with("|--") || line.starts_with("| symbols") {
            continue;
        }
        let c = cells(line);
        if in_baseline && c.len() >= 3 {
            if let (Some(p50), Some(p99)) = (number(&c[1]), number(&c[2])) {
                baselines.insert(c[0].clone(), (p50, p99));
            }
        } else if c.len() >= 5 {
            if let (Some(p50), Some(p99)) = (number(&c[3]), number(&c[4])) {
                measured.push((c[0].clone(), c[1].clone(), p50, p99));
            }
        }
    }
    if measured.is_empty() {
        bail!("the feed benchmark printed no rows");
    }
    let mut rows = Vec::new();
    for (symbols, mode, p50, p99) in measured {
        let base = baselines.get(&symbols);
        for (what, value, base_value) in [("p50", p50, base.map(|b| b.0)), ("p99", p99, base.map(|b| b.1))] {
            rows.push(Row {
                suite: "feed",
                name: format!("{symbols} symbols {mode}: cycle {what}"),
                value,
                unit: "ms",
                baseline: base_value.map(|v| (format!("plain fetch_tickers loop {what}"), v)),
            });
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// sessions

/// Runs of each session. One run says little on a shared machine (the same build took 55 to
/// 87 s for the 2000-symbol session in one afternoon); the median of five, with the range,
/// says how the build does and how much the machine moved.
const SESSION_RUNS: usize = 5;

fn sessions(root: &Path) -> Result<Vec<Row>> {
    crate::cargo(root, &["build", "--release", "--locked", "-p", "bot"], &[])?;
    let bot = root.join("target/release/bot");
    let sizes = [(130u32, 5.0), (2000, 60.0)];
    // (wall times, peak RSS in KiB) per size; the sizes alternate within a round, so a busy
    // spell of the machine falls on both.
    let mut runs: Vec<(Vec<f64>, u64)> = vec![(Vec::new(), 0); sizes.len()];
    for round in 1..=SESSION_RUNS {
        for ((symbols, _), (walls, peak)) in sizes.iter().zip(runs.iter_mut()) {
            let dir = tempdir(root)?;
            eprintln!("xtask: session run {round} of {SESSION_RUNS}, {symbols} symbols");
            let (wall, peak_kib) = measure_session(&bot, *symbols, &dir)?;
            let _ = fs::remove_dir_all(&dir);
            walls.push(wall.as_secs_f64());
            *peak = (*peak).max(peak_kib);
        }
    }
    let mut rows = Vec::new();
    for ((symbols, target_s), (walls, peak_kib)) in sizes.iter().zip(runs) {
        let (median, min, max) = spread(&walls);
        rows.push(Row {
            suite: "session",
            name: format!(
                "bot run, 24 simulated hours, {symbols} symbols: wall time, median of {SESSION_RUNS} \
                 (runs {min:.1}-{max:.1} s)"
            ),
            value: median,
            unit: "s",
            baseline: Some(("target".to_owned(), *target_s)),
        });
        rows.push(Row {
            suite: "session",
            name: format!(
                "bot run, 24 simulated hours, {symbols} symbols: peak RSS, largest of {SESSION_RUNS}"
            ),
            value: peak_kib as f64 / 1024.0,
            unit: "MiB",
            baseline: Some(("target".to_owned(), 100.0)),
        });
    }
    Ok(rows)
}

/// Median, smallest and largest of `values` (the median of an even count is the mean of the
/// middle two; all three are 0 for none).
pub(crate) fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    (median, v.first().copied().unwrap_or(0.0), v.last().copied().unwrap_or(0.0))
}

fn tempdir(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/xtask-bench-sessions");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Runs one session and returns its wall time and the peak RSS (`VmHWM`, sampled from
/// `/proc/PID/status` every 20 ms while it runs; 0 where `/proc` is missing).
fn measure_session(bot: &Path, symbols: u32, dir: &Path) -> Result<(Duration, u64)> {
    let args = ["run", "--duration", "24h", "--symbols", &symbols.to_string(), "--session-dir"];
    eprintln!("xtask: $ {} {} {}", bot.display(), args.join(" "), dir.display());
    // xtask times a child process: real time is what is measured here.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut child = Command::new(bot)
        .args(args)
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bot.display()))?;
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = fs::read_to_string(&status_file).ok().as_deref().and_then(vm_hwm_kib) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    if !status.success() {
        bail!("the {symbols}-symbol session failed ({status})");
    }
    Ok((wall, peak))
}

/// `VmHWM` (peak resident set, KiB) from a `/proc/PID/status` text.
pub(crate) fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_results_of_this_run_become_rows_with_the_groups_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let write = |group: &str, function: &str, median: f64| {
            let d = dir.path().join(group).join(function).join("new");
            fs::create_dir_all(&d).unwrap();
            let id = serde_json::json!({"group_id": group, "function_id": function, "value_str": null});
            fs::write(d.join("benchmark.json"), id.to_string()).unwrap();
            let est = serde_json::json!({"median": {"point_estimate": median}});
            fs::write(d.join("estimates.json"), est.to_string()).unwrap();
        };
        write("writer", "baseline_sync", 2000.0);
        write("writer", "emit", 500.0);
        write("sign", "order", 1500.0);
        let rows = criterion_rows(dir.path(), SystemTime::UNIX_EPOCH).unwrap();
        let emit = rows.iter().find(|r| r.name == "writer/emit").unwrap();
        assert_eq!(emit.baseline, Some(("baseline_sync".to_owned(), 2000.0)));
        let sign = rows.iter().find(|r| r.name == "sign/order").unwrap();
        assert_eq!(sign.baseline, None);
        let text = table(&rows);
        assert!(
            text.contains("| criterion | writer/emit | 500.00 ns | baseline_sync: 2.00 µs | 0.25x |"),
            "{text}"
        );
        assert!(text.contains("| criterion | sign/order | 1.50 µs | - | - |"), "{text}");
        // Results older than the run are not this run's.
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000_000_000);
        assert!(criterion_rows(dir.path(), later).unwrap().is_empty());
    }

    #[test]
    fn the_feed_table_becomes_rows_against_the_plain_loop() {
        let text = "feed benchmark: ...\n\n\
            | symbols | mode | cycles | p50 ms | p99 ms | max ms | overruns |\n|---:|---|---:|---:|---:|---:|---:|\n\
            | 130 | bulk | 20 | 104 | 110 | 111 | 0 |\n\
            | 130 | per_symbol | 5 | 900 | 950 | 951 | 0 |\n\n\
            baseline, same run: a plain loop of `fetch_tickers(watchlist)` calls, one per tick\n\n\
            | symbols | p50 ms | p99 ms | max ms | errors |\n|---:|---:|---:|---:|---:|\n| 130 | 208 | 220 | 230 | 0 |\n";
        let rows = feed_rows(text).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].name, "130 symbols bulk: cycle p50");
        assert_eq!((rows[0].value, rows[0].baseline.clone().unwrap().1), (104.0, 208.0));
        assert_eq!(rows[3].value, 950.0);
        assert!(feed_rows("nothing").is_err());
    }

    #[test]
    fn the_spread_of_runs_is_their_median_and_range() {
        assert_eq!(spread(&[61.0, 52.5, 55.0, 87.0, 54.0]), (55.0, 52.5, 87.0));
        assert_eq!(spread(&[4.0, 5.0, 3.0, 6.0]), (4.5, 3.0, 6.0));
        assert_eq!(spread(&[]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn peak_rss_is_read_from_proc_status() {
        assert_eq!(vm_hwm_kib("Name:\tbot\nVmPeak:\t 9 kB\nVmHWM:\t   81234 kB\n"), Some(81234));
        assert_eq!(vm_hwm_kib("Name:\tbot\n"), None);
    }
}
