//! Integration tests of the order router: property tests against a scripted venue, the
//! in-process simulator (restart and reconciliation), and the simulator's HTTP server through
//! the REST client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unreachable_pub, missing_docs)] // test code

mod http;
mod mock;
mod props;
mod scenarios;
mod sim;
