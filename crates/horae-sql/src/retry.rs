//! Retrying while a database server is unreachable at start-up (DESIGN.md invariant 10):
//! attempts spaced by [`Backoff`] (100 ms doubling to 10 s, jittered) until a deadline,
//! each failed attempt reported to the caller. The loop knows nothing of databases: an
//! attempt says whether it reached the server, failed in a way worth retrying, or failed
//! for good.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use horae::backoff::Backoff;
use horae::error::StoreError;
use tokio::time::Instant;

/// What one attempt to reach a server found.
#[derive(Debug)]
pub(crate) enum Attempt<T> {
    /// The server answered.
    Reached(T),
    /// The server could not be reached (refused, timed out, starting up): worth retrying.
    Transient(String),
    /// The server answered and refused for good (bad credentials, bad configuration), or
    /// the request is wrong: retrying cannot help.
    Fatal(StoreError),
}

/// Why [`retry_while_transient`] stopped without reaching the server.
#[derive(Debug)]
pub(crate) enum GaveUp {
    /// An attempt failed for good.
    Fatal(StoreError),
    /// The deadline passed while the server stayed unreachable.
    Unreachable {
        /// The last attempt's failure.
        cause: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
    },
}

/// One failed attempt, reported before waiting for the next: `{database} at {url} is
/// unreachable ({cause}); retrying in 1.2s`. The URL is redacted (no password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The kind of server: `PostgreSQL`, `MySQL`, `SQLite`.
    pub database: &'static str,
    /// The server's URL with its password replaced by `***`.
    pub url: String,
    /// Why the attempt failed (`connection refused`, `timed out after 5s`, ...).
    pub cause: String,
    /// Which attempt failed (1 = the first).
    pub attempt: u32,
    /// How long until the next attempt.
    pub retry_in: Duration,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {} is unreachable ({}); retrying in ",
            self.database, self.url, self.cause
        )?;
        if self.retry_in < Duration::from_secs(1) {
            write!(f, "{}ms", self.retry_in.as_millis())
        } else {
            write!(f, "{:.1}s", self.retry_in.as_secs_f64())
        }
    }
}

/// Runs `attempt` until it reaches the server or fails for good, waiting a backoff delay
/// after each transient failure (reported to `on_retry` with the attempt number, the cause
/// and the delay) for as long as `limit` allows; the last wait is cut to end at the
/// deadline, where one final attempt is made. With a zero `limit` the first attempt is the
/// only one. `attempt` receives the time left before the deadline.
pub(crate) async fn retry_while_transient<T, F, Fut, N>(
    limit: Duration,
    mut attempt: F,
    mut on_retry: N,
) -> Result<T, GaveUp>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt<T>>,
    N: FnMut(u32, &str, Duration),
{
    let started = Instant::now();
    let mut backoff = Backoff::new();
    let mut attempts = 0u32;
    loop {
        attempts = attempts.saturating_add(1);
        let cause = match attempt(limit.saturating_sub(started.elapsed())).await {
            Attempt::Reached(value) => return Ok(value),
            Attempt::Fatal(error) => return Err(GaveUp::Fatal(error)),
            Attempt::Transient(cause) => cause,
        };
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(GaveUp::Unreachable {
                cause,
                attempts,
                elapsed: started.elapsed(),
            });
        }
        let delay = backoff.next_delay().min(left);
        on_retry(attempts, &cause, delay);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
            .block_on(future)
    }

    #[test]
    fn retries_transient_failures_with_growing_delays_until_reached() {
        let calls = Cell::new(0);
        let mut delays = Vec::new();
        let result = run(retry_while_transient(
            Duration::from_secs(10),
            |_| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 4 {
                        Attempt::Transient(format!("refused {n}"))
                    } else {
                        Attempt::Reached(n)
                    }
                }
            },
            |attempt, cause: &str, delay| delays.push((attempt, cause.to_owned(), delay)),
        ));
        assert!(matches!(result, Ok(4)), "{result:?}");
        assert_eq!(delays.len(), 3);
        let mut step = horae::backoff::MIN_DELAY;
        for (i, (attempt, cause, delay)) in delays.iter().enumerate() {
            assert_eq!(*attempt as usize, i + 1);
            assert_eq!(cause, &format!("refused {}", i + 1));
            assert!(*delay >= step / 2 && *delay <= step, "{delay:?}");
            step *= 2;
        }
    }

    #[test]
    fn a_fatal_failure_stops_at_once() {
        let mut retried = false;
        let result: Result<(), _> = run(retry_while_transient(
            Duration::from_secs(10),
            |_| async { Attempt::Fatal(StoreError::Other("bad password".to_owned())) },
            |_, _: &str, _| retried = true,
        ));
        assert!(matches!(result, Err(GaveUp::Fatal(StoreError::Other(m))) if m == "bad password"));
        assert!(!retried);
    }

    #[test]
    fn a_zero_limit_makes_one_attempt() {
        let calls = Cell::new(0);
        let result: Result<(), _> = run(retry_while_transient(
            Duration::ZERO,
            |left| {
                calls.set(calls.get() + 1);
                assert_eq!(left, Duration::ZERO);
                async { Attempt::Transient("connection refused".to_owned()) }
            },
            |_, _: &str, _| panic!("no retry with a zero limit"),
        ));
        assert_eq!(calls.get(), 1);
        assert!(
            matches!(&result, Err(GaveUp::Unreachable { cause, attempts: 1, .. }) if cause == "connection refused"),
            "{result:?}"
        );
    }

    #[test]
    fn gives_up_at_the_deadline_after_a_final_attempt() {
        let limit = Duration::from_millis(400);
        let started = std::time::Instant::now();
        let mut waited = Duration::ZERO;
        let result: Result<(), _> = run(retry_while_transient(
            limit,
            |_| async { Attempt::Transient("timed out".to_owned()) },
            |_, _: &str, delay| waited += delay,
        ));
        let elapsed = started.elapsed();
        let Err(GaveUp::Unreachable {
            attempts,
            elapsed: reported,
            ..
        }) = result
        else {
            panic!("{result:?}")
        };
        // 50-100 ms, 100-200 ms, then the rest of the 400 ms: at least 3 retries.
        assert!(attempts >= 4, "{attempts} attempts");
        assert!(waited <= limit, "{waited:?}");
        assert!(reported >= limit && elapsed < limit * 3, "{elapsed:?}");
    }

    #[test]
    fn the_notice_names_the_server_cause_and_delay() {
        let notice = Unreachable {
            database: "PostgreSQL",
            url: "postgres://postgres:***@127.0.0.1:5432/x".to_owned(),
            cause: "connection refused".to_owned(),
            attempt: 3,
            retry_in: Duration::from_millis(1234),
        };
        assert_eq!(
            notice.to_string(),
            "PostgreSQL at postgres://postgres:***@127.0.0.1:5432/x is unreachable (connection refused); retrying in 1.2s"
        );
        let soon = Unreachable {
            retry_in: Duration::from_millis(87),
            ..notice
        };
        assert!(soon.to_string().ends_with("; retrying in 87ms"), "{soon}");
    }
}
