//! horae: a job scheduler with APScheduler 4's model, made correct under concurrency.
//!
//! This crate holds the core: the [data model](model) (tasks, schedules, jobs, results),
//! [triggers](trigger) with APScheduler 4's exact fire times, [events](event), human
//! [durations](duration) and the [error types](error). The store and broker traits and the
//! scheduling engine build on these. `DESIGN.md` is the contract.

pub mod backoff;
pub mod broker;
pub mod clock;
pub mod duration;
pub mod error;
pub mod event;
pub mod model;
mod random;
pub mod scheduler;
pub mod store;
pub mod trigger;

pub use crate::error::{Error, Result};
