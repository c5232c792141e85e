//! One module per top-level subcommand, and `store`: what the commands that open a store
//! share.

pub(crate) mod admin;
pub(crate) mod bench;
pub(crate) mod migrate;
pub(crate) mod run;
pub(crate) mod store;
pub(crate) mod trigger;
