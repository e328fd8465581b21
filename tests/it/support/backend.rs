//! The two places a test's store can live: a directory (`<root>/pki`, the
//! default) or a fresh prefix of the shared OpenBao dev server
//! ([`Bao::shared`]). `Env::on(Backend::Vault)` points every run of `pki`
//! at `vault://secret/pki/<unique>` with the server's address and token;
//! [`each_backend!`](crate::each_backend) turns a test function taking
//! the backend into one test per backend.
//!
//! A test that looks at the store's files keeps doing so through
//! `env.store()`: on Vault that is a directory the test builds from the
//! store's objects ([`VaultPrefix::snapshot`]), in the directory store's
//! layout, read through pki's own reader with the root token. It is read
//! only: `pki store copy` would do the same but takes the lock and adds a
//! line to the store's audit log, which before/after comparisons and lock
//! tests would then see.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pki::store::vault::VaultStore;

use super::bao::Bao;

/// Where a test's store lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The directory `<root>/pki`.
    Dir,
    /// A fresh `vault://secret/pki/<unique>` on the shared dev server.
    Vault,
    /// The directory `<root>/pki`, its index in shards from the first
    /// certificate (`PKI_INDEX_INLINE_MAX=0`), as a store past 1,000
    /// certificates keeps it (docs/store.md, format 2).
    Sharded,
}

impl Backend {
    /// Whether a test on this backend can run here: always for a
    /// directory; for Vault when `bao` is installed (on CI its absence
    /// fails the test, elsewhere the test says it is skipped).
    pub fn available(self) -> bool {
        match self {
            Backend::Dir | Backend::Sharded => true,
            Backend::Vault => Bao::shared().is_some(),
        }
    }
}

/// Define, for each test function `NAME(backend: Backend)`, the tests
/// `NAME::dir`, `NAME::vault` and `NAME::sharded`: the same test, once on
/// each backend, and on a directory store whose index is in shards.
#[macro_export]
macro_rules! each_backend {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            use $crate::support::backend::Backend;

            #[test]
            fn dir() {
                super::$test(Backend::Dir)
            }

            #[test]
            fn vault() {
                if Backend::Vault.available() {
                    super::$test(Backend::Vault)
                }
            }

            #[test]
            fn sharded() {
                super::$test(Backend::Sharded)
            }
        }
    )+};
}

/// A store in the shared dev server: its address and what the last
/// snapshot of it saw.
pub struct VaultPrefix {
    /// `vault://secret/pki/<unique>`, as `PKI_STORE` names it.
    pub address: String,
    pub mount: String,
    pub path: String,
    /// The `state` version and object names the snapshot on disk shows.
    seen: Mutex<Option<(Option<u64>, Vec<String>)>>,
}

/// Where [`VaultPrefix::snapshot`] puts the store's files, under the env's root.
pub const SNAPSHOT_DIR: &str = "vault-snapshot";

/// The list of every object of the store, in the snapshot (so an object
/// written by a refused command shows in a before/after comparison).
pub const OBJECTS_FILE: &str = "vault-objects";

impl VaultPrefix {
    /// A prefix no other test uses, on the shared server.
    pub fn fresh() -> VaultPrefix {
        let bao = Bao::shared().expect("the OpenBao dev server (Backend::available)");
        let address = bao.fresh_prefix();
        let (mount, path) = split(&address);
        VaultPrefix {
            address,
            mount,
            path,
            seen: Mutex::new(None),
        }
    }

    /// The same store, for another env (its own snapshot).
    pub fn same(&self) -> VaultPrefix {
        VaultPrefix {
            address: self.address.clone(),
            mount: self.mount.clone(),
            path: self.path.clone(),
            seen: Mutex::new(None),
        }
    }

    /// The environment of a `pki` using this store: the server, the root
    /// token and `PKI_STORE`.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut v = bao().env();
        v.push(("PKI_STORE".into(), self.address.clone()));
        v
    }

    /// The API path (under `v1/`) of the object `rel` of this store, for
    /// reading (`data`) or changing it by hand.
    pub fn api_path(&self, rel: &str) -> String {
        format!("{}/data/{}/{rel}", self.mount, self.path)
    }

    /// The object `rel` (`state`, `lock`, `files/ca/<serial>.crt`, ...) as
    /// the KV v2 API returns it: its data and its version; None when absent.
    pub fn object(&self, rel: &str) -> Option<(serde_json::Value, u64)> {
        let (status, v) = bao().api("GET", &self.api_path(rel), None);
        match status {
            404 => None,
            200 => Some((
                v["data"]["data"].clone(),
                v["data"]["metadata"]["version"].as_u64().unwrap(),
            )),
            _ => panic!("GET {}: {status} {v}", self.api_path(rel)),
        }
    }

    /// Write the object `rel` by hand (no check-and-set), as an operator
    /// or an attacker with the API could; its new version.
    pub fn put_object(&self, rel: &str, data: serde_json::Value) -> u64 {
        let v = bao().api_ok(
            "POST",
            &self.api_path(rel),
            Some(serde_json::json!({ "data": data })),
        );
        v["data"]["version"].as_u64().unwrap()
    }

    /// Delete the latest version of `rel` as `bao kv delete` does (its
    /// metadata and earlier versions stay).
    pub fn delete_object(&self, rel: &str) {
        bao().api_ok("DELETE", &self.api_path(rel), None);
    }

    /// The version of `state` (None: no store there yet).
    pub fn state_version(&self) -> Option<u64> {
        self.object("state").map(|(_, v)| v)
    }

    /// Every object of the store, relative to its prefix, sorted.
    pub fn objects(&self) -> Vec<String> {
        crate::support::vault_env::objects(&bao().client(), &self.mount, &self.path)
    }

    /// The store read with pki's own reader, with the root token.
    pub fn reader(&self) -> VaultStore {
        VaultStore::with_client(self.mount.clone(), self.path.clone(), bao().client())
    }

    /// The store's files in the directory store's layout under
    /// `root/vault-snapshot`, rebuilt when `state` or the set of objects
    /// changed since the last call: `index.json`, `audit.jsonl`, every
    /// file the index names (keys 0600, certificates and CRLs 0644, as
    /// `pki store copy` writes them: a mode here says nothing about
    /// Vault), the documents beside the index (`hook.pending`), and
    /// [`OBJECTS_FILE`]. No directory when there is no store. Panics when
    /// a run made a directory store in `root/pki` instead.
    pub fn snapshot(&self, root: &Path) -> PathBuf {
        let dir = root.join(SNAPSHOT_DIR);
        assert!(
            !root.join("pki").exists(),
            "a run meant for {} made a directory store in {}",
            self.address,
            root.join("pki").display()
        );
        let now = (self.state_version(), self.objects());
        let mut seen = self.seen.lock().unwrap();
        if seen.as_ref() == Some(&now) {
            return dir;
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        if now.0.is_some() {
            self.write_snapshot(&dir, &now.1);
        }
        *seen = Some(now);
        dir
    }

    fn write_snapshot(&self, dir: &Path, objects: &[String]) {
        let store = self.reader();
        let index = store
            .read_index()
            .unwrap_or_else(|e| panic!("{}: {e}", self.address));
        make_dir(dir);
        let put = |rel: &Path, text: &str, mode: u32| {
            let p = dir.join(rel);
            make_dir(p.parent().unwrap());
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        put(
            Path::new("index.json"),
            &pki::ui::to_text(&index, "the index").unwrap(),
            0o600,
        );
        put(
            Path::new("audit.jsonl"),
            &store.audit_text().unwrap(),
            0o600,
        );
        put(Path::new(OBJECTS_FILE), &objects.join("\n"), 0o600);
        for rel in index.files() {
            let text = store
                .read_text(rel)
                .unwrap_or_else(|e| panic!("{}: {e}", self.address));
            let mode = if rel.extension().is_some_and(|x| x == "key") {
                0o600
            } else {
                0o644
            };
            put(rel, &text, mode);
        }
        for name in objects.iter().filter_map(|o| o.strip_prefix("docs/")) {
            if let Some(text) = store.read_doc(name).unwrap() {
                put(Path::new(name), &String::from_utf8(text).unwrap(), 0o600);
            }
        }
    }
}

fn bao() -> &'static Bao {
    Bao::shared().expect("the OpenBao dev server (Backend::available)")
}

/// Mount and path of a `vault://MOUNT/PATH` address.
pub fn split(address: &str) -> (String, String) {
    let rest = address.strip_prefix("vault://").unwrap();
    let (m, p) = rest.split_once('/').unwrap();
    (m.to_string(), p.to_string())
}

fn make_dir(d: &Path) {
    std::fs::create_dir_all(d).unwrap();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
}
