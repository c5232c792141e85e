//! One module per top-level subcommand, and `store`: what the commands that open a store
//! share.

pub(crate) mod bench;
pub(crate) mod migrate;
mod store;
pub(crate) mod trigger;
