//! The one place the tests read the store's own files through pki's types
//! (`index.json` as `pki::store::Index`, audit log lines as
//! `pki::store::audit::Entry`). The store's types are changing; keep every
//! such use behind this module so there is one place to adapt.
#![allow(dead_code)]

use crate::support::common::Env;

pub use pki::store::audit::Entry as AuditLine;
pub use pki::store::{Index, Phase};

impl Env {
    /// The store's index, read through pki's own type (every field
    /// checked); an index in shards (format 2) is assembled by pki's reader.
    pub fn index(&self) -> Index {
        Env::index_at(&self.store())
    }

    /// [`Env::index`] of the store in the directory `dir`.
    pub fn index_at(dir: &std::path::Path) -> Index {
        let raw: Index = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap())
            .expect("index.json parses as pki::store::Index");
        if raw.shards.is_none() {
            return raw;
        }
        pki::store::Store::new(dir)
            .read_index()
            .unwrap_or_else(|e| panic!("the store's index reads as pki reads it: {e}"))
    }

    /// The names of the files in `index.d/` of the store in `dir`, sorted
    /// (none when its index is not in shards).
    pub fn shard_files_at(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("index.d"))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// [`Env::index`] as JSON, in format 1's shape whatever the format on disk.
    pub fn index_json(&self) -> serde_json::Value {
        serde_json::to_value(self.index()).expect("an index encodes")
    }

    /// The store's audit log, read and its chain checked through pki's own
    /// reader (a broken chain fails the test).
    pub fn audit_log(&self) -> Vec<AuditLine> {
        let text = std::fs::read_to_string(self.store().join("audit.jsonl")).unwrap_or_default();
        pki::store::audit::verify(&text)
            .unwrap_or_else(|(_, broken)| panic!("the audit chain is broken: {broken:?}"))
    }
}
