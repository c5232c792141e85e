//! SQL data stores (SQLite, PostgreSQL, MySQL/MariaDB) and the PostgreSQL LISTEN/NOTIFY broker for horae.
//!
//! This crate is a placeholder in the workspace layout of DESIGN.md section 2; it gains its
//! implementation in a later milestone and intentionally exports nothing yet.
