//! Opening the configured data store and event broker, waiting with backoff while their
//! servers are unreachable (up to `store.connect_timeout`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use horae::backoff::Backoff;
use horae::broker::{EventBroker, LocalBroker};
use horae::error::BrokerError;
use horae::store::{DataStore, MemoryStore};
use horae_mqtt::{MqttBroker, MqttBrokerOptions};
use horae_redis::{RedisBroker, RedisBrokerOptions};
use horae_sql::{OpenOptions, PgBroker, PgBrokerOptions, SqlStore, TablePrefix};

use crate::Failure;
use crate::commands::store::{parse_url, usage};
use crate::config::{StoreSettings, is_memory_url};

/// An open data store and event broker.
pub(crate) struct Backend {
    /// The store.
    pub(crate) store: Arc<dyn DataStore>,
    /// The SQL store behind it, to close its pool at the end (`None` for memory).
    sql: Option<SqlStore>,
    /// The broker.
    pub(crate) broker: Arc<dyn EventBroker>,
    /// What the store URL shows (password redacted).
    pub(crate) store_shown: String,
}

impl Backend {
    /// A backend of an already open store and broker.
    pub(crate) fn new(
        store: Arc<dyn DataStore>,
        sql: Option<SqlStore>,
        broker: Arc<dyn EventBroker>,
        store_shown: String,
    ) -> Backend {
        Backend {
            store,
            sql,
            broker,
            store_shown,
        }
    }

    /// Closes the store's connection pool.
    pub(crate) async fn close(&self) {
        if let Some(sql) = &self.sql {
            sql.close().await;
        }
    }
}

/// How a failed attempt to reach a server is reported.
pub(crate) type OnRetry<'a> = &'a (dyn Fn(&str) + Sync);

/// Opens the store: memory, or an SQL store (created and migrated if needed).
///
/// # Errors
///
/// [`Failure::Usage`] for a malformed URL or prefix, [`Failure::Runtime`] when the server
/// stayed unreachable for the connect timeout or refused the connection.
pub(crate) async fn open_store(
    settings: &StoreSettings,
    on_retry: OnRetry<'_>,
) -> Result<(Arc<dyn DataStore>, Option<SqlStore>, String), Failure> {
    if is_memory_url(&settings.url) {
        return Ok((Arc::new(MemoryStore::new()), None, "memory://".to_owned()));
    }
    let url = parse_url("store.url", &settings.url)?;
    let prefix = match &settings.prefix {
        Some(prefix) => TablePrefix::new(prefix.clone()).map_err(|e| usage("store.prefix", e))?,
        None => TablePrefix::default(),
    };
    let options = OpenOptions {
        prefix,
        max_connections: None,
        connect_timeout: settings.connect_timeout,
    };
    let opened = SqlStore::open(&url, &options, |unreachable| {
        on_retry(&unreachable.to_string())
    })
    .await
    .map_err(|e| Failure::Runtime(e.into()))?;
    if opened.created_database {
        tracing::info!(store = %url, "created the database");
    }
    if opened.from_version != opened.to_version {
        tracing::info!(
            store = %url,
            from = opened.from_version,
            to = opened.to_version,
            "migrated the schema"
        );
    }
    Ok((
        opened.store.data_store(),
        Some(opened.store),
        url.redacted(),
    ))
}

/// Connects to the broker at `url`, retrying with backoff for up to `timeout` while its
/// server is unreachable.
///
/// # Errors
///
/// [`Failure::Usage`] for invalid broker settings, [`Failure::Runtime`] when the server
/// stayed unreachable.
pub(crate) async fn connect_broker(
    url: &str,
    timeout: Duration,
    on_retry: OnRetry<'_>,
) -> Result<Arc<dyn EventBroker>, Failure> {
    if url == "local" {
        return Ok(Arc::new(LocalBroker::new()));
    }
    let started = Instant::now();
    let mut backoff = Backoff::new();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let error = match connect_once(url).await {
            Ok(broker) => return Ok(broker),
            Err(BrokerError::Invalid(message)) => {
                return Err(Failure::Usage(format!("broker.url: {message}")));
            }
            Err(error) => error,
        };
        let delay = backoff.next_delay();
        if started.elapsed() + delay > timeout {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "{error}; gave up after {:.1}s and {attempt} attempt{}",
                started.elapsed().as_secs_f64(),
                if attempt == 1 { "" } else { "s" }
            )));
        }
        on_retry(&format!("{error}; retrying in {:.1}s", delay.as_secs_f64()));
        tokio::time::sleep(delay).await;
    }
}

async fn connect_once(url: &str) -> Result<Arc<dyn EventBroker>, BrokerError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PgBroker::connect(url, PgBrokerOptions::default()).await?,
        ))
    } else if url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(Arc::new(
            RedisBroker::connect(url, RedisBrokerOptions::default()).await?,
        ))
    } else if url.starts_with("mqtt://") || url.starts_with("tcp://") {
        Ok(Arc::new(
            MqttBroker::connect(url, MqttBrokerOptions::default()).await?,
        ))
    } else {
        Err(BrokerError::Invalid(format!(
            "{url:?}: expected local, postgres://..., redis://... or mqtt://HOST:PORT"
        )))
    }
}

/// Opens the store, then the broker (with the same connect timeout).
///
/// # Errors
///
/// As [`open_store`] and [`connect_broker`].
pub(crate) async fn open(
    store: &StoreSettings,
    broker_url: &str,
    on_retry: OnRetry<'_>,
) -> Result<Backend, Failure> {
    let (store_arc, sql, store_shown) = open_store(store, on_retry).await?;
    let broker = match connect_broker(broker_url, store.connect_timeout, on_retry).await {
        Ok(broker) => broker,
        Err(failure) => {
            if let Some(sql) = &sql {
                sql.close().await;
            }
            return Err(failure);
        }
    };
    Ok(Backend::new(store_arc, sql, broker, store_shown))
}
