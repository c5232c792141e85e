//! Project automation for horae, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask chaos [--duration 10m]`: the chaos experiment — a cluster of `horae run`
//!   processes on PostgreSQL with a Redis broker, whose jobs write an audit of every
//!   execution while nodes are killed, frozen and the database and broker restarted; then a
//!   report of lost fire times, duplicate starts, retries, panics and lateness. See
//!   [`chaos`].
//!
//! Exit status: 0 when the command succeeded (for `chaos`: every check passed), 1 when a
//! check failed, 2 when the experiment could not run (bad arguments, a service missing).

mod chaos;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `cargo xtask` commands.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "horae's project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chaos experiment against a local PostgreSQL and Redis and print its report.
    Chaos(chaos::ChaosArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Chaos(args) => match chaos::run(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        },
    }
}
