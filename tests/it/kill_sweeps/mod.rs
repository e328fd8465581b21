//! SIGKILL sweeps: every command that writes, killed at points spread over
//! its run, must leave a store that verifies and a retry that succeeds.
//! They take minutes, so each is `#[ignore]`d: run them with
//! `cargo test --test it -- --ignored` (`.ci/run` includes them in its run).

mod rollover;
mod rotate;
mod vault;
pub(crate) mod writes;
