//! End-to-end tests of the `horae` binary (one test binary, one module per command).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod admin;
mod bench;
mod daemon;
mod hostile;
mod migrate;
mod run;
mod trigger_preview;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `horae` with `args` (and `stdin`, if any) and returns its output.
pub(crate) fn horae(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_horae"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("horae starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("horae finishes")
}

/// Standard output as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

/// Standard error as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// `Some(value)`; `None` with a note when `service` was unreachable (`horae` said so on
/// stderr) outside CI. Any other failure fails the test.
pub(crate) fn reachable<T>(service: &str, result: Result<T, String>) -> Option<T> {
    match result {
        Err(message) if !message.contains(" is unreachable (") => {
            panic!("{service}: {message}")
        }
        result => horae_testkit::service::available(service, result),
    }
}
