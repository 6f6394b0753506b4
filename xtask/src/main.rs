//! `cargo xtask`: the project's automation, in Rust instead of shell glue.
//!
//! - `cargo xtask ci`: every check CI runs (format, clippy with `-D warnings`, tests, docs with
//!   `-D warnings`, a short `run-session`, `cargo deny check bans licenses sources`).
//! - `cargo xtask run-session`: a session on the embedded simulated exchange (dry until the
//!   order router is assembled: decisions are recorded, no orders are sent).
//! - `cargo xtask bench [-p PACKAGE]`: the criterion benchmarks; `cargo xtask bench feed`: the
//!   market-data feed table (md-feed's `feed_bench --table`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation for the drop-bot workspace")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every CI check: fmt, clippy -D warnings, tests, docs -D warnings, cargo-deny.
    Ci {
        /// Skip `cargo deny` (for machines without it; CI never skips).
        #[arg(long)]
        no_deny: bool,
    },
    /// Run a session on the embedded simulated exchange (dry: decides and records, sends no
    /// orders until the order router lands). `cargo xtask run-session -- --help` lists settings.
    RunSession {
        /// Arguments passed to the session (e.g. `-- --minutes 60 --symbols 500`).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Run the criterion benchmarks (all packages, or one with -p); `bench feed` runs the
    /// market-data feed benchmark table against the simulator's HTTP server.
    Bench {
        /// `feed`: the feed benchmark (md-feed's `feed_bench --table`).
        target: Option<String>,
        /// Only this package.
        #[arg(short, long)]
        package: Option<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = workspace_root()?;
    match cli.command {
        Cmd::Ci { no_deny } => ci(&root, no_deny),
        Cmd::RunSession { args } => run_session(&root, &args),
        Cmd::Bench { target: Some(t), .. } if t == "feed" => cargo(
            &root,
            &["run", "--release", "--quiet", "-p", "md-feed", "--example", "feed_bench", "--", "--table"],
            &[],
        ),
        Cmd::Bench { target: Some(t), .. } => bail!("unknown benchmark `{t}` (known: feed)"),
        Cmd::Bench { package, .. } => {
            let mut args = vec!["bench"];
            match package.as_deref() {
                Some(p) => args.extend(["-p", p]),
                None => args.push("--workspace"),
            }
            cargo(&root, &args, &[])
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).context("xtask has no parent directory")
}

fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: $ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start `{cargo}`"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn ci(root: &Path, no_deny: bool) -> Result<()> {
    cargo(root, &["fmt", "--all", "--", "--check"], &[])?;
    cargo(root, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    cargo(root, &["test", "--workspace"], &[])?;
    cargo(root, &["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    // The README's run command must work on a fresh machine too: a short session, for real.
    let sessions = root.join("target").join("ci-sessions");
    let sessions = sessions.to_str().context("target path is not UTF-8")?;
    run_session(root, &["--minutes".into(), "30".into(), "--session-dir".into(), sessions.into()])?;
    if no_deny {
        eprintln!("xtask: skipping cargo deny (--no-deny)");
    } else {
        ensure_cargo_deny(root)?;
        // Advisories need the internet; bans, licenses and sources are checked offline.
        cargo(root, &["deny", "--offline", "check", "bans", "licenses", "sources"], &[])?;
    }
    eprintln!("xtask: all CI checks passed");
    Ok(())
}

/// Installs cargo-deny from crates.io when this machine does not have it yet, so that
/// `cargo xtask ci` works on a fresh machine.
fn ensure_cargo_deny(root: &Path) -> Result<()> {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let present = Command::new(&cargo_bin)
        .args(["deny", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|out| out.status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: cargo-deny is not installed; installing it from crates.io");
    cargo(root, &["install", "--locked", "cargo-deny"], &[])
}

/// Runs the dry session (`examples/dry_session.rs`): the simulated venue, the signal engine,
/// telemetry and the supervisor, deciding and recording without sending orders until the order
/// router is assembled.
fn run_session(root: &Path, args: &[String]) -> Result<()> {
    let mut cargo_args = vec!["run", "--quiet", "-p", "drop-bot-examples", "--example", "dry_session", "--"];
    cargo_args.extend(args.iter().map(String::as_str));
    cargo(root, &cargo_args, &[])
}
