//! The in-memory store passes the store conformance suite.

use std::sync::Arc;

use horae::store::{DataStore, MemoryStore};

horae_testkit::store_conformance_tests!(|| async {
    Arc::new(MemoryStore::new()) as Arc<dyn DataStore>
});
