//! The scheduling engine's services.
//!
//! Each service is one module with its own configuration and tests (River's layout):
//! [`schedule_processor`] turns due schedules into jobs. The job processor, lease keeper,
//! reaper and cleanup services, and the `Scheduler` that runs them, build on the same store,
//! broker and clock.

pub mod schedule_processor;
