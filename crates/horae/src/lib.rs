//! horae: a job scheduler with APScheduler 4's model, made correct under concurrency.
//!
//! This crate holds the core: the data model, triggers, and (in later milestones) the
//! store/broker traits and the scheduling engine. See `DESIGN.md` for the contract.

pub mod trigger;
