//! The `horae` command-line interface.
//!
//! | command | what |
//! |---|---|
//! | `horae run [--config F] [--check]` | a node: scheduler, workers, HTTP API and dashboard ([`commands::run`]) |
//! | `horae task list\|show\|add\|remove` | tasks in the store ([`commands::admin`]) |
//! | `horae schedule add\|list\|show\|pause\|resume\|remove` | schedules in the store |
//! | `horae job add\|list\|show\|result [--wait]` | jobs and their results |
//! | `horae node list` | the nodes sharing the store |
//! | `horae trigger preview` | fire times of a trigger |
//! | `horae migrate` | create or upgrade an SQL store's schema |
//! | `horae bench` | benchmarks against the APScheduler peer harness |
//!
//! `--config FILE` (or `HORAE_CONFIG`) names the config file ([`config`]) for `run` and the
//! admin commands; `--store URL` overrides its store. Without a file the defaults apply:
//! SQLite `horae.db` in the working directory, the local broker, HTTP on 127.0.0.1:8731.
//!
//! Exit codes follow DESIGN.md invariant 12: 0 on success, 2 for usage errors and invalid
//! input (message on stderr), 1 for runtime errors — for the admin commands these include
//! unknown and duplicate ids, and `job result` of a job that did not succeed.

mod backend;
mod commands;
mod config;
mod executor;
mod logging;
mod reconcile;
mod spec;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// horae: a job scheduler with APScheduler 4's model, correct under concurrency.
#[derive(Debug, Parser)]
#[command(name = "horae", version, about, propagate_version = true)]
struct Cli {
    /// The config file (TOML; see DESIGN.md section 7). Without one: the defaults and the
    /// HORAE_* environment variables.
    #[arg(long, global = true, value_name = "FILE", env = "HORAE_CONFIG")]
    config: Option<PathBuf>,
    /// The store for `run` and the admin commands, overriding the config file and
    /// HORAE_STORE_URL (the admin commands also take it after their name).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: scheduler, workers, HTTP API and dashboard; SIGINT or SIGTERM stops it
    /// gracefully.
    Run(commands::run::RunArgs),
    /// Manage tasks in the store.
    Task(commands::admin::task::TaskArgs),
    /// Manage schedules in the store.
    Schedule(commands::admin::schedule::ScheduleArgs),
    /// Queue jobs and read their results.
    Job(commands::admin::job::JobArgs),
    /// Show the nodes sharing the store.
    Node(commands::admin::node::NodeArgs),
    /// Work with triggers (preview fire times).
    #[command(subcommand)]
    Trigger(commands::trigger::TriggerCommand),
    /// Measure throughput and timing on the same workloads as the APScheduler peer harness.
    Bench(commands::bench::BenchArgs),
    /// Create or upgrade a store's schema (SQLite, PostgreSQL, MySQL/MariaDB) to the latest
    /// version and print what was done; waits for an unreachable server up to
    /// --connect-timeout.
    Migrate(commands::migrate::MigrateArgs),
}

/// A failure that decides the process exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Invalid input or usage: exit 2.
    Usage(String),
    /// The command failed at run time: exit 1.
    Runtime(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0 and usage errors with exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Run(args) => {
            settings(cli.config, cli.store).and_then(|s| commands::run::run(args, s))
        }
        Command::Task(args) => {
            settings(cli.config, cli.store).and_then(|s| commands::admin::task::run(args, s))
        }
        Command::Schedule(args) => {
            settings(cli.config, cli.store).and_then(|s| commands::admin::schedule::run(args, s))
        }
        Command::Job(args) => {
            settings(cli.config, cli.store).and_then(|s| commands::admin::job::run(args, s))
        }
        Command::Node(args) => {
            settings(cli.config, cli.store).and_then(|s| commands::admin::node::run(args, s))
        }
        Command::Trigger(command) => commands::trigger::run(command),
        Command::Bench(args) => commands::bench::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// The configuration: the file (if any), the environment, then `--store`.
fn settings(config: Option<PathBuf>, store: Option<String>) -> Result<config::Settings, Failure> {
    let mut settings = config::Settings::load(config.as_deref(), &|name| std::env::var(name).ok())
        .map_err(|error| Failure::Usage(error.0))?;
    if let Some(url) = store {
        config::check_store_url(&url)
            .map_err(|message| Failure::Usage(format!("--store: {message}")))?;
        settings.override_store(url);
    }
    Ok(settings)
}
