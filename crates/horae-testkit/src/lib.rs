//! Conformance suites that every horae data store and event broker must pass.
//!
//! This crate is a placeholder in the workspace layout of DESIGN.md section 2; it gains its
//! implementation in a later milestone and intentionally exports nothing yet.
