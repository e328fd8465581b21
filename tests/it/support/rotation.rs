//! Helpers shared by the rotation and monitoring tests.
#![allow(dead_code)]

use std::path::Path;

use crate::support::common::{openssl, Backend, Env};

/// A store made at `now` (`init INIT_ARGS`) with `users` (name, days) as
/// ECDSA P-256 keys in PKCS#8: fast to make, and read back by every tool.
pub fn store_at(now: &str, init_args: &[&str], users: &[(&str, &str)]) -> Env {
    store_at_on(Backend::Dir, now, init_args, users)
}

/// [`store_at`] on `backend`.
pub fn store_at_on(backend: Backend, now: &str, init_args: &[&str], users: &[(&str, &str)]) -> Env {
    let mut env = Env::on(backend);
    env.var("PKI_NOW", now);
    let mut init = vec!["init"];
    init.extend_from_slice(init_args);
    env.run(&init).ok();
    for (u, days) in users {
        let args = [
            "issue",
            u,
            "--days",
            days,
            "--key-type",
            "ecdsa-p256",
            "--key-format",
            "pkcs8",
        ];
        env.run(&args).ok();
    }
    env
}

/// Does `openssl verify` accept `cert` under `ca` at unix time `at`?
pub fn chains(ca: &Path, cert: &Path, at: &str) -> (bool, String) {
    openssl(&[
        "verify",
        "-attime",
        at,
        "-CAfile",
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
    ])
}

/// `index.json` of the env's store.
pub fn index(env: &Env) -> serde_json::Value {
    env.index_json()
}
