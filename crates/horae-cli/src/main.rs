//! The `horae` command-line interface.
//!
//! Exit codes follow DESIGN.md invariant 12: 0 on success, 2 for usage errors and invalid
//! input (message on stderr), 1 for runtime errors.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// horae: a job scheduler with APScheduler 4's model, correct under concurrency.
#[derive(Debug, Parser)]
#[command(name = "horae", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
