//! HTTP API, live events, web dashboard and Prometheus metrics for the horae daemon.
//!
//! This crate is a placeholder in the workspace layout of DESIGN.md section 2; it gains its
//! implementation in a later milestone and intentionally exports nothing yet.
