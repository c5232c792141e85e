//! Time as the engine sees it (DESIGN.md invariant 11).
//!
//! Every engine timer and timestamp goes through a [`Clock`]. [`SystemClock`] is the real
//! one. [`VirtualClock`] follows tokio's clock: in a runtime whose time is paused
//! (`#[tokio::test(start_paused = true)]`), tokio jumps straight to the next timer whenever
//! every task is idle, so a simulation covers days of schedule time in seconds, and it is
//! deterministic on a current-thread runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// A boxed, sendable future (the return type of the object-safe async traits).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of the current time and of timers.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// Completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()>;

    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let deadline = add(self.now(), duration);
        self.sleep_until(deadline)
    }
}

/// `at + duration`, saturating at the largest timestamp.
pub(crate) fn add(at: Timestamp, duration: Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// How long from `now` until `deadline` (zero if it has passed).
fn until(now: Timestamp, deadline: Timestamp) -> Duration {
    Duration::try_from(deadline.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// The operating system's clock, with tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let wait = until(Timestamp::now(), deadline);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that starts at a chosen instant and advances with tokio's (possibly paused) time.
///
/// Create it inside the runtime it is used in.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    epoch: Timestamp,
    started: tokio::time::Instant,
}

impl VirtualClock {
    /// A clock reading `epoch` now.
    pub fn new(epoch: Timestamp) -> VirtualClock {
        VirtualClock {
            epoch,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        add(self.epoch, self.started.elapsed())
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let target = self.started + until(self.epoch, deadline);
        Box::pin(tokio::time::sleep_until(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_time_jumps_to_timers() {
        let epoch: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = VirtualClock::new(epoch);
        assert_eq!(clock.now(), epoch);
        let wall = std::time::Instant::now();
        clock.sleep(Duration::from_secs(3 * 86_400)).await;
        assert_eq!(clock.now(), "2026-01-04T00:00:00Z".parse().unwrap());
        clock
            .sleep_until("2026-01-03T00:00:00Z".parse().unwrap())
            .await; // already passed
        assert_eq!(clock.now(), "2026-01-04T00:00:00Z".parse().unwrap());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now(), "2026-01-04T00:00:01.5Z".parse().unwrap());
        assert!(
            wall.elapsed() < Duration::from_secs(5),
            "three virtual days took real time"
        );
    }

    #[tokio::test]
    async fn system_clock_sleeps_for_real() {
        let clock = SystemClock;
        let before = clock.now();
        clock.sleep(Duration::from_millis(20)).await;
        assert!(clock.now().duration_since(before) >= SignedDuration::from_millis(20));
    }
}
