//! `horae node list`: the nodes sharing the store, from their heartbeat records.

use clap::{Args, Subcommand};
use horae::model::NodeInfo;
use serde::Serialize;

use super::{Admin, AdminArgs, block_on, print_json, show, store_failure};
use crate::Failure;
use crate::config::Settings;

/// `horae node ...`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    #[command(flatten)]
    admin: AdminArgs,
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// List the nodes that recorded a heartbeat (dead ones are kept for an hour). JSON adds
    /// `alive` to the record's fields.
    List,
}

/// Runs `horae node ...`.
pub(crate) fn run(args: NodeArgs, mut settings: Settings) -> Result<(), Failure> {
    if let Some(store) = args.admin.store.clone() {
        settings.override_store(store);
    }
    block_on(async move {
        let admin = Admin::open(&settings, args.admin.json).await?;
        let result = match args.command {
            NodeCommand::List => list(&admin).await,
        };
        admin.close().await;
        result
    })
}

/// A node record and whether it is alive, for `--json`.
#[derive(Serialize)]
struct NodeView<'a> {
    #[serde(flatten)]
    node: &'a NodeInfo,
    alive: bool,
}

async fn list(admin: &Admin) -> Result<(), Failure> {
    let nodes = admin
        .scheduler
        .store()
        .get_nodes()
        .await
        .map_err(store_failure)?;
    let now = admin.scheduler.now();
    if admin.json {
        let views: Vec<NodeView<'_>> = nodes
            .iter()
            .map(|node| NodeView {
                node,
                alive: node.is_alive(now),
            })
            .collect();
        return print_json(&views);
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|node| {
            vec![
                node.id.clone(),
                node.role.to_string(),
                if node.is_alive(now) { "yes" } else { "no" }.to_owned(),
                format!("{}/{}", node.running_jobs, node.max_concurrent_jobs),
                show::time(Some(node.started_at)),
                show::time(Some(node.last_heartbeat)),
                node.version.clone(),
            ]
        })
        .collect();
    show::table(
        &[
            "ID",
            "ROLE",
            "ALIVE",
            "RUNNING",
            "STARTED",
            "LAST HEARTBEAT",
            "VERSION",
        ],
        &rows,
    );
    Ok(())
}
