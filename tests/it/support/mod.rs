//! Helpers shared by the test modules: the `pki` runner and its checks
//! (`common`), the store on either backend (`backend`, OpenBao in `bao`), the tests' own types for pki's JSON documents (`docs`), the
//! one door to the store's own types (`store`), a fake Marathon, the
//! Erlang/OTP handshake set-up, the vendor's documents, and the rotation
//! helpers.

pub mod backend;
pub mod bao;
pub mod common;
pub mod docs;
pub mod fake_marathon;
pub mod handshake;
pub mod rotation;
pub mod store;
pub mod vault_env;
pub mod vendor;
