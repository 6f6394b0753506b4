//! Placeholder replaced by the real benchmark below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report
fn main() {}
