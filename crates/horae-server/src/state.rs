//! What every handler shares: the scheduler, the optional token and the metrics handle.

use std::sync::Arc;
use std::time::Duration;

use horae::scheduler::Scheduler;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

/// The server's shared state: build one with [`AppState::new`] and pass it to
/// [`router`](crate::router) or [`serve`](crate::serve).
///
/// Cloning is cheap (one reference count).
///
/// # Example
///
/// ```
/// use horae::scheduler::Scheduler;
/// use horae_server::AppState;
///
/// let scheduler = Scheduler::builder().node_id("docs").build()?;
/// let state = AppState::new(scheduler).with_token(Some("s3cret".to_owned()));
/// assert!(state.requires_token());
/// # Ok::<(), horae::Error>(())
/// ```
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    scheduler: Scheduler,
    token: Option<String>,
    metrics: Option<PrometheusHandle>,
    ready_timeout: Duration,
    result_wait_limit: Duration,
    /// Cancelled when [`serve`](crate::serve) shuts down: ends the event streams.
    shutdown: CancellationToken,
}

impl AppState {
    /// State serving `scheduler` (its store, broker and clock), with no token, no metrics,
    /// a 2 s readiness probe timeout and results waited for at most 60 s.
    pub fn new(scheduler: Scheduler) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                scheduler,
                token: None,
                metrics: None,
                ready_timeout: Duration::from_secs(2),
                result_wait_limit: Duration::from_secs(60),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    fn update(self, change: impl FnOnce(&mut Inner)) -> AppState {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// Requires `Authorization: Bearer <token>` (or the dashboard's login cookie) on every
    /// path but `/healthz`. `None`, an empty or an all-blank token means no authentication.
    #[must_use]
    pub fn with_token(self, token: Option<String>) -> AppState {
        let token = token.filter(|t| !t.trim().is_empty());
        self.update(|inner| inner.token = token)
    }

    /// Serves `/metrics` from this handle (see [`install_metrics`](crate::install_metrics));
    /// without one `/metrics` answers 404.
    #[must_use]
    pub fn with_metrics(self, handle: PrometheusHandle) -> AppState {
        self.update(|inner| inner.metrics = Some(handle))
    }

    /// How long `/readyz` waits for the store before answering 503 (default 2 s).
    #[must_use]
    pub fn with_ready_timeout(self, timeout: Duration) -> AppState {
        self.update(|inner| inner.ready_timeout = timeout)
    }

    /// The longest `GET /api/v1/results/{id}?wait=true` may wait (default 60 s); a
    /// request's own `timeout` is capped at this.
    #[must_use]
    pub fn with_result_wait_limit(self, limit: Duration) -> AppState {
        self.update(|inner| inner.result_wait_limit = limit)
    }

    /// Whether requests need the token.
    pub fn requires_token(&self) -> bool {
        self.inner.token.is_some()
    }

    /// The scheduler served.
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.inner.token.as_deref()
    }

    pub(crate) fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    pub(crate) fn ready_timeout(&self) -> Duration {
        self.inner.ready_timeout
    }

    pub(crate) fn result_wait_limit(&self) -> Duration {
        self.inner.result_wait_limit
    }

    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
}
