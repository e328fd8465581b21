//! The store in Vault (or OpenBao): the same objects as the directory
//! store, kept in a KV v2 secrets engine (docs/vault.md).

pub mod auth;
pub mod client;
mod store;

pub use store::{Lease, VaultStore};
