//! One module per top-level subcommand.

pub(crate) mod bench;
pub(crate) mod trigger;
