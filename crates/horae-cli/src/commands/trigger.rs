//! `horae trigger preview`: print a trigger's upcoming fire times.

use std::io::Write;

use clap::{Subcommand, ValueEnum};
use horae::trigger::{Trigger, format_fire_time};

use crate::Failure;

/// Largest `--count` accepted, to keep a typo from printing forever.
const MAX_COUNT: usize = 100_000;

/// `horae trigger ...` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TriggerCommand {
    /// Print the first N fire times of a trigger.
    Preview {
        /// The trigger as JSON (DESIGN.md section 4), or @FILE to read it from a file
        /// (@- reads standard input).
        #[arg(long)]
        trigger: String,
        /// How many fire times to print (fewer if the trigger ends).
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The time an omitted start_time/start_date stands for (RFC 3339; default: now).
        #[arg(long)]
        now: Option<String>,
    },
}

/// Output formats of `trigger preview`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One RFC 3339 time per line.
    Text,
    /// A JSON array of RFC 3339 strings.
    Json,
}

pub(crate) fn run(command: TriggerCommand) -> Result<(), Failure> {
    match command {
        TriggerCommand::Preview {
            trigger,
            count,
            format,
            now,
        } => preview(&trigger, count, format, now.as_deref()),
    }
}

/// Reads the `--trigger` argument: inline JSON or `@file`.
fn read_spec(arg: &str) -> Result<String, Failure> {
    match arg.strip_prefix('@') {
        Some("-") => std::io::read_to_string(std::io::stdin())
            .map_err(|e| Failure::Usage(format!("--trigger @-: cannot read standard input: {e}"))),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("--trigger @{path}: cannot read file: {e}"))),
        None => Ok(arg.to_owned()),
    }
}

fn preview(spec: &str, count: usize, format: Format, now: Option<&str>) -> Result<(), Failure> {
    if count > MAX_COUNT {
        return Err(Failure::Usage(format!(
            "--count: at most {MAX_COUNT} fire times can be previewed"
        )));
    }
    let now = match now {
        None => jiff::Timestamp::now(),
        Some(text) => text.parse::<jiff::Timestamp>().map_err(|e| {
            Failure::Usage(format!(
                "--now: expected an RFC 3339 time with an offset: {e}"
            ))
        })?,
    };
    let spec = read_spec(spec)?;
    let mut trigger =
        Trigger::parse(&spec, now).map_err(|e| Failure::Usage(format!("invalid trigger: {e}")))?;
    let mut times = Vec::with_capacity(count.min(1024));
    while times.len() < count {
        match trigger.next() {
            Ok(Some(time)) => times.push(format_fire_time(&time)),
            Ok(None) => break,
            Err(e) => {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "trigger evaluation failed: {e}"
                )));
            }
        }
    }
    let out = match format {
        Format::Json => {
            serde_json::to_string(&times).map_err(|e| Failure::Runtime(e.into()))? + "\n"
        }
        Format::Text => times.iter().map(|t| format!("{t}\n")).collect(),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // A closed pipe (`| head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Runtime(e.into())),
    }
}
