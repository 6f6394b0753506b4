//! Builds (or rebuilds) the report of one session directory:
//! `cargo run -p session-report --example build_report -- sessions/session_YYYYMMDD_HHMMSS`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: build_report <session dir>");
        return ExitCode::from(2);
    };
    match session_report::build(&dir) {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("build_report: {e}");
            ExitCode::FAILURE
        }
    }
}
