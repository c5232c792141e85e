//! Integration tests of `horae-server`: the HTTP surface of an in-memory node, driven
//! through the router (`tower::ServiceExt::oneshot`) and, for `serve`, a real listener.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod api;
mod auth;
mod dashboard;
mod events;
mod hostile;
mod metrics;
mod openapi;
mod outage;
mod serve;
mod support;
