//! The integration tests, as one test binary: each module drives the real
//! `pki` binary (or, for `props`, the library) over one area, and shares
//! the helpers of `support`. One binary means the crate and the helpers
//! are linked once after a change, not once per file.
//!
//! The kill sweeps (`kill_sweeps`) take minutes and are ignored by default;
//! `cargo test --test it -- --ignored` runs them alone, `.ci/run` runs them
//! with the rest (`--include-ignored`).

mod support;

mod asp;
mod audit;
mod batch_issue;
mod by_reference;
mod ca_renewal;
mod ca_replacement;
mod check;
mod clock;
mod core;
mod deploy_marathon;
mod docs_as_printed;
mod encrypted_key;
mod export_k8s;
mod export_riak_admin;
mod faults;
mod hostile_input;
mod import_sign_revoke;
mod kill_sweeps;
mod marathon_schema;
mod names_crls_inputs;
mod probe;
mod props;
mod redirects;
mod rollover;
mod rotate;
mod second_day;
mod shards;
mod sign_and_send;
mod store_trust;
mod tls_handshake;
mod vault_client;
mod vault_ha;
mod vault_limits;
mod vault_store;
mod vault_writers;
mod verify;
mod wording;
