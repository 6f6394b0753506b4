//! `cargo xtask`: the project's automation, in Rust instead of shell glue.
//!
//! - `cargo xtask ci`: every check CI runs (format, clippy with `-D warnings`, tests, docs with
//!   `-D warnings`, `cargo deny check bans licenses sources`).
//! - `cargo xtask run-session`: a trading session on the embedded simulated exchange.
//! - `cargo xtask bench [-p PACKAGE]`: the criterion benchmarks.

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
    /// Run a trading session on the embedded simulated exchange.
    RunSession {
        /// Arguments passed to the session (see `--help` once the bot is assembled).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Run the criterion benchmarks (all packages, or one with -p).
    Bench {
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
        Cmd::Bench { package } => {
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

fn run_session(_root: &Path, _args: &[String]) -> Result<()> {
    bail!(
        "the bot is not assembled yet: the md-feed, order-router and bot crates are still to come \
         (see docs/ARCHITECTURE.md). The simulated exchange runs on its own with \
         `cargo run -p exchange-sim --bin sim-server -- --addr 127.0.0.1:0`"
    )
}
