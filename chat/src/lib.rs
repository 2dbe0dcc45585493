//! Parley's chat persistence. For now the storage foundation: one [`Store`] over SQLite (the
//! embedded default) or PostgreSQL, with migrations for both, and the users table every later
//! chat feature hangs off. This crate knows nothing of WebRTC or HTTP.

mod store;

pub use store::{Store, StoreError, User};
