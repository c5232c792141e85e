//! `horae migrate`: create or upgrade a store's schema to the latest version, without
//! starting a node — for deployments that migrate before rolling out new nodes, or that run
//! nodes under a database role without DDL rights.

use clap::Args;
use horae_sql::{DEFAULT_PREFIX, OpenOptions, TablePrefix};
use serde_json::json;

use super::store::{ConnectArgs, open, parse_url, usage};
use crate::Failure;

/// `horae migrate` arguments.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The store: `sqlite://PATH`, `postgres://user:password@host:5432/db` or
    /// `mysql://user:password@host:3306/db` (`mariadb://` too). A missing database (or
    /// SQLite file) is created. Default: the daemon's default store.
    #[arg(
        long,
        value_name = "URL",
        env = "HORAE_STORE_URL",
        default_value = "sqlite://horae.db"
    )]
    store: String,
    /// The table prefix: several horae installations can share one database under
    /// different prefixes.
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print one JSON object: `store`, `prefix`, `from_version`, `to_version`,
    /// `created_database`.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: MigrateArgs) -> Result<(), Failure> {
    if args.store.starts_with("memory:") {
        return Err(Failure::Usage(
            "--store: the memory store keeps no schema; give an sqlite:, postgres:// or mysql:// URL"
                .to_owned(),
        ));
    }
    let url = parse_url("--store", &args.store)?;
    let prefix = TablePrefix::new(args.prefix).map_err(|e| usage("--prefix", e))?;
    let options = OpenOptions {
        prefix,
        max_connections: Some(1),
        connect_timeout: args.connect.connect_timeout,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let opened = runtime.block_on(async {
        let opened = open(&url, &options).await?;
        opened.store.close().await;
        Ok::<_, Failure>(opened)
    })?;
    let prefix = options.prefix.as_str();
    if args.json {
        println!(
            "{}",
            json!({
                "store": url.redacted(), "prefix": prefix, "from_version": opened.from_version,
                "to_version": opened.to_version, "created_database": opened.created_database,
            })
        );
    } else {
        if opened.created_database {
            println!("created database {url}");
        }
        if opened.from_version == opened.to_version {
            println!(
                "{url} (prefix {prefix}) already at version {}",
                opened.to_version
            );
        } else {
            println!(
                "migrated {url} (prefix {prefix}) from version {} to {}",
                opened.from_version, opened.to_version
            );
        }
    }
    Ok(())
}
