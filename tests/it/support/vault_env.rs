//! A store in Vault as the kill and failover tests look at it: `pki` run
//! on it ([`InVault::env`]), and what pki left there read straight
//! through the KV v2 API (the index decoded from `state`, the audit lines,
//! the objects, the lock), not through the pki command under test. Plus
//! the one check both tests make of an index and its log: every change the
//! index holds is in the audit log ([`assert_audit_covers`]).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Read;

use base64::Engine;
use pki::store::vault::client::Client;
use serde_json::Value;

use crate::support::common::Env;

/// Every object under `path` of the KV v2 engine at `mount`, by its name
/// under `path`, sorted.
pub fn objects(client: &Client, mount: &str, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Folders as "" or "users/u1/"; a listing names sub-folders with a `/`.
    let mut folders = vec![String::new()];
    while let Some(dir) = folders.pop() {
        let under = format!("{path}/{dir}");
        for name in client.kv_list(mount, under.trim_end_matches('/')).unwrap() {
            if name.ends_with('/') {
                folders.push(format!("{dir}{name}"));
            } else {
                out.push(format!("{dir}{name}"));
            }
        }
    }
    out.sort();
    out
}

/// A store `vault://MOUNT/PATH` on one server, read with the root token.
pub struct InVault {
    pub address: String,
    /// `VAULT_ADDR`, `VAULT_TOKEN`, ...: what a pki on this server needs.
    pub vars: Vec<(String, String)>,
    mount: String,
    path: String,
    client: Client,
}

impl InVault {
    /// The store at `address` on the server `vars` name.
    pub fn new(vars: &[(String, String)], address: &str) -> InVault {
        let (mount, path) = address
            .strip_prefix("vault://")
            .and_then(|r| r.split_once('/'))
            .unwrap_or_else(|| panic!("not a vault:// address: {address}"));
        let client = client(vars);
        InVault {
            address: address.to_string(),
            vars: vars.to_vec(),
            mount: mount.to_string(),
            path: path.to_string(),
            client,
        }
    }

    /// A scratch directory whose `pki` runs use this store.
    pub fn env(&self) -> Env {
        let mut env = Env::new();
        for (k, v) in &self.vars {
            env.var(k, v);
        }
        env.var("PKI_STORE", &self.address);
        env
    }

    /// The data of the object `rel` (`state`, `lock`, `files/ca/...`).
    pub fn get(&self, rel: &str) -> Option<Value> {
        self.client
            .kv_get(&self.mount, &format!("{}/{rel}", self.path))
            .unwrap_or_else(|e| panic!("read {}/{rel}: {e}", self.address))
            .map(|v| Value::Object(v.data))
    }

    /// The `state` document (the commit point).
    pub fn state(&self) -> Option<Value> {
        self.get("state")
    }

    /// The lock's holder, when someone holds it (or left it).
    pub fn lock(&self) -> Option<Value> {
        self.get("lock")
    }

    /// The index `state` holds, as JSON (None: no store).
    pub fn index(&self) -> Option<Value> {
        let state = self.state()?;
        let packed = match state["index_chunks"].as_array() {
            Some(chunks) if !chunks.is_empty() => chunks
                .iter()
                .map(|sha| {
                    let c = self
                        .get(&format!("index/{}", sha.as_str().unwrap()))
                        .unwrap();
                    c["chunk"].as_str().unwrap().to_string()
                })
                .collect(),
            _ => state["index"].as_str().unwrap().to_string(),
        };
        let zipped = base64::engine::general_purpose::STANDARD
            .decode(packed)
            .expect("the index is base64");
        let mut text = Vec::new();
        flate2::read::ZlibDecoder::new(zipped.as_slice())
            .read_to_end(&mut text)
            .expect("the index is zlib");
        Some(serde_json::from_slice(&text).expect("the index is JSON"))
    }

    /// Every audit line, in order: the blocks `state` names, then its pending lines.
    pub fn audit(&self) -> Vec<Value> {
        let Some(state) = self.state() else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        for first in state["audit_blocks"].as_array().unwrap() {
            let block = self
                .get(&format!("audit/{:012}", first.as_u64().unwrap()))
                .expect("a block state names");
            for l in block["lines"].as_str().unwrap().lines() {
                lines.push(serde_json::from_str(l).expect("an audit line is JSON"));
            }
        }
        lines.extend(state["pending"].as_array().unwrap().iter().cloned());
        lines
    }

    /// The PEM of the store file `rel` (`ca/<serial>.crt`, ...).
    pub fn text(&self, rel: &str) -> Option<String> {
        self.get(&format!("files/{rel}"))
            .map(|d| d["text"].as_str().unwrap().to_string())
    }

    /// Every object of the store, by its name under the store's path.
    pub fn objects(&self) -> Vec<String> {
        objects(&self.client, &self.mount, &self.path)
    }

    /// A copy of this store at `address` on the same server, object by
    /// object (the latest version of each): a fresh store for a trial
    /// that starts where this one stands.
    pub fn copy_to(&self, address: &str) -> InVault {
        let to = InVault::new(&self.vars, address);
        for rel in self.objects() {
            let data = self.get(&rel).unwrap();
            to.client
                .kv_put(&to.mount, &format!("{}/{rel}", to.path), &data, Some(0))
                .unwrap_or_else(|e| panic!("copy {rel} to {address}: {e}"));
        }
        to
    }
}

/// pki's own client of the server `vars` name (`VAULT_ADDR`, `VAULT_TOKEN`).
pub fn client(vars: &[(String, String)]) -> Client {
    let lookup = |k: &str| {
        vars.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| OsString::from(v))
    };
    Client::from_lookup(&lookup).expect("a client for the test server")
}

/// No change the index holds is missing from the audit log, and the log
/// records no certificate the index does not hold:
/// - the certificates' serials are exactly those of the `issued`,
///   `signed` and `imported` lines;
/// - each CA (current, earlier, the rollover's other) has a line naming it;
/// - each revoked certificate has its `revoked` line;
/// - each CRL the index names has its `crl-signed` line.
#[track_caller]
pub fn assert_audit_covers(index: &Value, audit: &[Value], when: &str) {
    let with = |events: &[&str]| -> BTreeSet<String> {
        audit
            .iter()
            .filter(|l| events.iter().any(|e| l["event"] == *e))
            .filter_map(|l| l["serial"].as_str().map(str::to_string))
            .collect()
    };
    let certs = index["certificates"].as_array().unwrap();
    let held: BTreeSet<String> = certs
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    let logged = with(&["issued", "signed", "imported"]);
    assert_eq!(
        held, logged,
        "{when}: the index's certificates and the log's issued lines differ"
    );
    let revoked = with(&["revoked"]);
    for c in certs.iter().filter(|c| c["state"] == "revoked") {
        let s = c["serial"].as_str().unwrap();
        assert!(revoked.contains(s), "{when}: revocation of {s} not logged");
    }
    let named: BTreeSet<String> = audit
        .iter()
        .filter_map(|l| l["serial"].as_str().map(str::to_string))
        .collect();
    let rollover = &index["rollover"];
    let cas = std::iter::once(&index["ca"])
        .chain(index["ca_history"].as_array().unwrap())
        .chain(rollover.get("other"));
    for ca in cas {
        let s = ca["serial"].as_str().unwrap();
        assert!(named.contains(s), "{when}: CA serial {s} in no audit line");
    }
    let crls = [&index["crl"], rollover.get("crl").unwrap_or(&Value::Null)];
    for crl in crls.into_iter().filter(|c| !c.is_null()) {
        let n = crl["number"].as_u64().unwrap();
        let signed = audit.iter().any(|l| {
            l["event"] == "crl-signed"
                && l["serial"] == crl["ca_serial"]
                && l["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(&format!("CRL number {n},")))
        });
        assert!(signed, "{when}: CRL number {n} in no crl-signed line");
    }
}
