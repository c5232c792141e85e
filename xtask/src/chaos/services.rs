//! PostgreSQL and the broker: checking they answer, stopping and starting them for the
//! outage faults, and the experiment's fresh database.
//!
//! A service is stopped and started by shell lines (by default those that start the
//! machine's services, DESIGN.md and `.ci/run`), so the experiment runs wherever those can
//! be run — as root on the CI machine. A [`ServiceGuard`] starts any service that is down
//! when the experiment ends, even early.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// A service the experiment can stop and start.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    /// Its name in messages.
    pub(crate) name: &'static str,
    /// Where it listens.
    pub(crate) address: String,
    /// Shell line that stops it.
    pub(crate) stop: String,
    /// Shell line that starts it.
    pub(crate) start: String,
}

/// How long a service may take to answer after its start command.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Service {
    /// Whether it accepts TCP connections.
    pub(crate) fn is_up(&self) -> bool {
        let Ok(addrs) = self.address.to_socket_addrs() else {
            return false;
        };
        addrs.into_iter().any(|addr: SocketAddr| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        })
    }

    /// Stops it and waits until it no longer answers.
    ///
    /// # Errors
    ///
    /// When the stop command fails or the service still answers 30 s later.
    pub(crate) fn stop(&self) -> Result<()> {
        shell(&self.stop).with_context(|| format!("stopping {}", self.name))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.is_up() {
            if Instant::now() > deadline {
                bail!(
                    "{} still answers on {} after `{}`",
                    self.name,
                    self.address,
                    self.stop
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Starts it (when it is down) and waits until it answers.
    ///
    /// # Errors
    ///
    /// When the start command fails and the service does not answer within a minute.
    pub(crate) fn start(&self) -> Result<()> {
        if self.is_up() {
            return Ok(());
        }
        let started = shell(&self.start);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.is_up() {
            if Instant::now() > deadline {
                return Err(started
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("it did not answer on {}", self.address)))
                .with_context(|| format!("starting {} (`{}`)", self.name, self.start));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

/// Runs `line` with `sh -c`.
fn shell(line: &str) -> Result<()> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(line)
        .output()
        .with_context(|| format!("running `{line}`"))?;
    if !output.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Starts every service of the experiment that is down when dropped.
#[derive(Debug)]
pub(crate) struct ServiceGuard(pub(crate) Vec<Service>);

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        for service in &self.0 {
            if !service.is_up() {
                eprintln!("chaos: {} is down; starting it again", service.name);
                if let Err(error) = service.start() {
                    eprintln!("chaos: {error:#}");
                }
            }
        }
    }
}

/// The `host:port` of a URL such as `postgres://user@host:5432/db` (`default_port` when
/// it names none).
pub(crate) fn host_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    }
}

/// Drops and creates the database that `url` names, through the server's `postgres`
/// database, so the experiment starts from empty tables.
///
/// # Errors
///
/// When the server cannot be reached or refuses.
pub(crate) async fn recreate_database(url: &str) -> Result<()> {
    let (server, query) = url
        .split_once('?')
        .map_or((url, None), |(s, q)| (s, Some(q)));
    let (base, database) = server
        .rsplit_once('/')
        .filter(|(base, name)| base.contains("://") && !base.ends_with('/') && !name.is_empty())
        .with_context(|| format!("the PostgreSQL URL {url:?} names no database"))?;
    if !database
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        bail!("database name {database:?}: use letters, digits and underscores");
    }
    let admin = match query {
        Some(query) => format!("{base}/postgres?{query}"),
        None => format!("{base}/postgres"),
    };
    let mut connection = PgConnection::connect(&admin)
        .await
        .with_context(|| format!("connecting to {base}/postgres"))?;
    for statement in [
        format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
        format!("CREATE DATABASE \"{database}\""),
    ] {
        sqlx::raw_sql(AssertSqlSafe(statement.clone()))
            .execute(&mut connection)
            .await
            .with_context(|| statement)?;
    }
    connection.close().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_reads_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/x", 5432),
            "127.0.0.1:5432"
        );
        assert_eq!(
            host_port("postgres://u:p@db/x?sslmode=disable", 5432),
            "db:5432"
        );
        assert_eq!(host_port("redis://127.0.0.1:6380", 6379), "127.0.0.1:6380");
        assert_eq!(host_port("redis://localhost", 6379), "localhost:6379");
    }
}
