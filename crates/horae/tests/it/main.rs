//! Integration tests of the `horae` crate (one test binary, one module per area).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod failover;
mod heartbeat;
mod model;
mod schedule_processor;
mod scheduler;
mod simulation;
mod trigger_invalid;
mod trigger_props;
mod trigger_vectors;
