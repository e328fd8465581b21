//! The store: the index (the one source of truth), the certificates and
//! keys it names, the audit log and the lock, behind one interface with two
//! backends (docs/store.md, docs/vault.md): a directory on this host
//! ([`dir::DirStore`], the default) and Vault's KV v2 secrets engine
//! ([`vault::VaultStore`], `--store vault://MOUNT/PATH`).
//!
//! Both keep the same contract. Certificates and keys are immutable
//! objects named by serial, written before the index names them; the
//! index is replaced as the single commit point of every change, and the
//! change's audit lines are part of that commit (a journal on disk, the
//! same document in Vault). A crash at any instant leaves the index naming
//! a complete, matching old pair or a complete, matching new one.

pub mod address;
pub mod audit;
pub mod dir;
pub mod fs;
pub mod hook;
mod index;
pub mod publish;
pub mod shard;
pub mod vault;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::x509::cert::CertInfo;
use crate::x509::keys::{KeyFormat, PrivateKey};
use crate::x509::serial::Serial;
pub use address::Address;
use dir::DirStore;
use fs::{PUBLIC_MODE, SECRET_MODE};
use vault::VaultStore;

pub use index::*;

/// The directories of a store.
pub const STORE_DIRS: [&str; 3] = ["ca", "users", "crl"];
/// The lock every writer takes.
pub const LOCK_FILE: &str = ".lock";

/// A store, on either backend.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Set once this run has replaced the index (see [`Store::after_commit_io`]).
    committed: Arc<AtomicBool>,
}

#[derive(Clone)]
enum Backend {
    Dir(DirStore),
    Vault(Arc<VaultStore>),
}

/// The store lock, held until dropped.
pub enum Lock {
    Dir(fs::Lock),
    Vault(vault::Lease),
}

impl Store {
    /// A directory store.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store::open(&Address::Dir(dir.into()))
    }

    /// The store at `address`. Nothing is read or contacted yet.
    pub fn open(address: &Address) -> Self {
        let backend = match address {
            Address::Dir(d) => Backend::Dir(DirStore::new(d.clone())),
            Address::Vault { mount, path } => {
                Backend::Vault(Arc::new(VaultStore::new(mount.clone(), path.clone())))
            }
        };
        Store {
            backend,
            committed: Default::default(),
        }
    }

    /// The directory of a directory store; None for a store in Vault.
    pub fn dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Dir(d) => Some(&d.dir),
            Backend::Vault(_) => None,
        }
    }

    /// The directory store, for what only a directory has (permissions,
    /// temporary files, orphans on disk).
    pub fn as_dir(&self) -> Option<&DirStore> {
        match &self.backend {
            Backend::Dir(d) => Some(d),
            Backend::Vault(_) => None,
        }
    }

    /// The store in Vault, for what only Vault has (published values, request counts).
    pub fn as_vault(&self) -> Option<&VaultStore> {
        match &self.backend {
            Backend::Dir(_) => None,
            Backend::Vault(v) => Some(v),
        }
    }

    /// The store as messages name it: its directory, or its `vault://` address.
    pub fn name(&self) -> PathBuf {
        match &self.backend {
            Backend::Dir(d) => d.dir.clone(),
            Backend::Vault(v) => PathBuf::from(v.address().to_string()),
        }
    }

    /// Where the store keeps `rel`, as messages show it (a file of the
    /// directory store, an object of the store in Vault).
    pub fn path(&self, rel: &Path) -> PathBuf {
        match &self.backend {
            Backend::Dir(d) => d.path(rel),
            Backend::Vault(v) => PathBuf::from(v.shown(rel)),
        }
    }

    /// Whether the store has an index (a store in Vault that cannot be
    /// reached says so as an error).
    pub fn exists(&self) -> Result<bool> {
        match &self.backend {
            Backend::Dir(d) => Ok(d.exists()),
            Backend::Vault(v) => v.exists(),
        }
    }

    /// Refuse to make a store at a path that is a file (exit 2).
    pub fn refuse_file(&self) -> Result<()> {
        match &self.backend {
            Backend::Dir(d) if d.dir.exists() && !d.dir.is_dir() => {
                Err(Error::StoreIsFile { dir: d.dir.clone() })
            }
            _ => Ok(()),
        }
    }

    /// Make room for a new store (`init`, `import`): a directory store's
    /// directory must be private and ours, empty or a store in the making
    /// ([`DirStore::refuse_foreign_dir`]), and is created 0700.
    pub fn make_room(&self) -> Result<()> {
        let Backend::Dir(d) = &self.backend else {
            return Ok(());
        };
        d.guard()?;
        if !d.exists() {
            d.refuse_foreign_dir()?;
        }
        fs::store_dir(&d.dir)
    }

    /// Refuse a directory store that is not private to the user running
    /// pki ([`DirStore::guard`]); Vault enforces its own policies.
    pub fn guard(&self) -> Result<()> {
        match &self.backend {
            Backend::Dir(d) => d.guard(),
            Backend::Vault(_) => Ok(()),
        }
    }

    /// What `pki verify` reports of the store's own files: paths a command
    /// would refuse and stale temporary files ([`DirStore::scan`]).
    pub fn scan(&self) -> Vec<Scanned> {
        match &self.backend {
            Backend::Dir(d) => d.scan(),
            Backend::Vault(_) => Vec::new(),
        }
    }

    /// The key and certificate files no index names: what an interrupted
    /// run left (directory store; in Vault such objects are overwritten by
    /// the retry and are never read).
    pub fn orphans(&self, index: &Index) -> Vec<PathBuf> {
        match &self.backend {
            Backend::Dir(d) => d.orphans_in(index, &d.user_dirs()),
            Backend::Vault(_) => Vec::new(),
        }
    }

    /// Read the index; a missing store is exit 2 with a hint to run `pki
    /// init`, a store that is not private is refused, and so is an index
    /// whose entries are not what pki writes ([`Index::validate`]).
    pub fn read_index(&self) -> Result<Index> {
        match &self.backend {
            Backend::Dir(d) => d.read_index(),
            Backend::Vault(v) => v.read_index(),
        }
    }

    /// One change to the store, the only way commands mutate it: take the
    /// lock (waiting when `wait`), re-read the index (a new empty one when
    /// `create` and there is none yet), and let `f` make its files and
    /// change `tx.index`. When `f` succeeds, the index is written if it
    /// changed, with the audit lines of the events `f` recorded, as one
    /// commit. When `f` fails, neither is written: files it made are
    /// orphans no index names.
    pub fn transact<T>(
        &self,
        wait: bool,
        now: OffsetDateTime,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transact_in(wait, now, false, None, f)
    }

    /// [`Store::transact`] for a change to the certificates of `users`
    /// only (`issue`, `revoke USER`; None: anyone's): in a directory store
    /// whose index is in shards, `tx.index` holds the CAs, the settings
    /// and the entries of those users' shards, and the commit writes only
    /// what changed, so one change costs O(change), not O(store) ([`shard`]).
    pub fn transact_for<T>(
        &self,
        users: Option<&[String]>,
        wait: bool,
        now: OffsetDateTime,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transact_in(wait, now, false, users, f)
    }

    /// [`Store::read_index`] for a command about `users` only (None:
    /// anyone): in a directory store whose index is in shards, the entries
    /// of their shards ([`Store::transact_for`]).
    pub fn read_index_for(&self, users: Option<&[String]>) -> Result<Index> {
        match &self.backend {
            Backend::Dir(d) => d.read_index_for(users),
            Backend::Vault(v) => v.read_index(),
        }
    }

    /// [`Store::transact`] for `init`: a store without an index starts empty.
    pub fn transact_new<T>(
        &self,
        wait: bool,
        now: OffsetDateTime,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transact_in(wait, now, true, None, f)
    }

    fn transact_in<T>(
        &self,
        wait: bool,
        now: OffsetDateTime,
        create: bool,
        users: Option<&[String]>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let (_lock, index) = match &self.backend {
            Backend::Dir(d) => {
                d.before_lock(create)?;
                let (lock, intended) = d.lock(wait, now)?;
                (Lock::Dir(lock), d.begin(create, &intended, users)?)
            }
            Backend::Vault(v) => {
                let lease = v.lock(wait)?;
                (Lock::Vault(lease), v.begin(create)?)
            }
        };
        let mut tx = Tx {
            store: self,
            now,
            before: index.clone(),
            index,
            events: Vec::new(),
        };
        let out = f(&mut tx)?;
        let (index, events) = (tx.index, tx.events);
        if index == tx.before {
            if !events.is_empty() {
                audit::Appender::open(self, now, None, "the change was made, but ")?
                    .append(events)?;
            }
            return Ok(out);
        }
        self.commit(&index, &tx.before, events, now)?;
        Ok(out)
    }

    /// Write `index` and record `events` as one commit (the backends'
    /// `commit`: docs/store.md, docs/vault.md).
    fn commit(
        &self,
        index: &Index,
        before: &Index,
        events: Vec<audit::Event>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let log = audit::Appender::open(self, now, None, "nothing was changed: ")?;
        let entries = log.chain(events);
        let committed = || self.committed.store(true, Ordering::SeqCst);
        match &self.backend {
            Backend::Dir(d) => d.commit(index, before, &entries, committed),
            Backend::Vault(v) => {
                let text = crate::ui::to_text(index, "the index")?;
                v.commit(Some(&text), &entries, committed)
            }
        }
    }

    /// The error a command ends with, worded for what happened: an I/O
    /// failure after this run committed a change (writing its report to
    /// stdout, reading a file after the commit) says "the change was made,
    /// but ...", never "run the command again", which would make a second
    /// change. Other errors carry their own words.
    pub fn after_commit_io(&self, e: Error) -> Error {
        let committed = self.committed.load(Ordering::SeqCst);
        if committed && matches!(e, Error::Io { .. }) {
            after_commit(
                &e,
                "it is recorded in the audit log (or the next run that takes the store lock records it); check the store with `pki verify`, and do not run the command again",
            )
        } else {
            e
        }
    }

    /// Replace the index and the whole audit log with `index` and `log`
    /// (`pki store copy`), as one commit; the caller holds the lock, taken
    /// with [`Store::lock_new`].
    pub fn replace_all(&self, index: &Index, log: &[audit::Entry]) -> Result<()> {
        let committed = || self.committed.store(true, Ordering::SeqCst);
        match &self.backend {
            Backend::Dir(d) => d.replace_all(index, log, committed),
            Backend::Vault(v) => {
                let text = crate::ui::to_text(index, "the index")?;
                v.replace_all(&text, log, committed)
            }
        }
    }

    /// Take the lock of a store that may not exist yet (the target of a
    /// copy); a directory store's directory is made first
    /// ([`Store::make_room`]).
    pub fn lock_new(&self, wait: bool, now: OffsetDateTime) -> Result<Lock> {
        self.make_room()?;
        self.lock_in(wait, now, true)
    }

    /// Whether an interrupted run may have left something for the next
    /// locked run to finish: a directory store's pending journal or torn
    /// last audit line, or what it can see of a run's leftovers without a
    /// look in every user's directory ([`DirStore::leftovers`], with
    /// `index` as just read); in Vault (which commits in one write) the
    /// lock of a holder that is gone, which would otherwise stay until the
    /// next writer, and make writers of other hosts wait out its lease.
    pub fn unsettled(&self, index: &Index) -> bool {
        match &self.backend {
            Backend::Dir(d) => audit::dir_unsettled(&d.dir) || d.leftovers(index),
            Backend::Vault(v) => v.lock_left(),
        }
    }

    /// Take the store lock (exit 4 when held and not waiting), finishing
    /// first what an interrupted run left ([`DirStore::lock`]).
    pub fn lock(&self, wait: bool, now: OffsetDateTime) -> Result<Lock> {
        self.lock_in(wait, now, false)
    }

    /// The lock, and in Vault the state read under it (`create`: a store
    /// that does not exist yet is an empty one).
    fn lock_in(&self, wait: bool, now: OffsetDateTime, create: bool) -> Result<Lock> {
        match &self.backend {
            Backend::Dir(d) => Ok(Lock::Dir(d.lock(wait, now)?.0)),
            Backend::Vault(v) => {
                let lease = v.lock(wait)?;
                v.begin(create)?;
                Ok(Lock::Vault(lease))
            }
        }
    }

    /// Write a new file of the store (0600 or 0644 as `mode` says), never
    /// replacing a file `index` names; one `index` does not name is the
    /// orphan of an interrupted run and is replaced, so a retry of the very
    /// same command never jams on it.
    pub fn write_file(&self, index: &Index, rel: &Path, data: &[u8], mode: u32) -> Result<()> {
        self.write_file_in(index, rel, data, mode, None)
    }

    /// [`Store::write_file`] as one file of `batch` ([`fs::Batch`], a
    /// directory store's): not synced here, so not durable until the batch
    /// is synced, which its caller does before the index names the file. A
    /// store in Vault has no batch: each object is durable once written.
    pub fn write_file_in(
        &self,
        index: &Index,
        rel: &Path,
        data: &[u8],
        mode: u32,
        batch: Option<&mut fs::Batch>,
    ) -> Result<()> {
        match &self.backend {
            Backend::Dir(d) => d.write_file_in(index, rel, data, mode, batch),
            Backend::Vault(v) => v.write_file(index, rel, data),
        }
    }

    /// Write a new certificate file under the store (see [`Store::write_file`]).
    pub fn write_cert(&self, index: &Index, rel: &Path, der: &[u8]) -> Result<()> {
        let pem = crate::x509::cert::der_to_pem(der);
        self.write_file(index, rel, pem.as_bytes(), PUBLIC_MODE)
    }

    /// Write a new private key file under the store, 0600 (see [`Store::write_file`]).
    pub fn write_key(
        &self,
        index: &Index,
        rel: &Path,
        key: &PrivateKey,
        format: KeyFormat,
    ) -> Result<()> {
        self.write_key_pem(index, rel, &key.to_pem(format)?)
    }

    /// Write a CA's key PEM (`encrypted`: encrypted PKCS#8) and
    /// certificate, named by serial; returns the index entry for the
    /// caller to commit.
    pub fn write_ca(
        &self,
        index: &Index,
        info: &CertInfo,
        der: &[u8],
        key_pem: &str,
        encrypted: bool,
        now: OffsetDateTime,
    ) -> Result<CaEntry> {
        let (cert_rel, key_rel) = Store::ca_paths(&info.serial);
        let mut entry = CaEntry::from_info(info, cert_rel.clone(), key_rel.clone(), now)?;
        self.write_key_pem(index, &key_rel, key_pem)?;
        self.write_cert(index, &cert_rel, der)?;
        entry.encrypted = encrypted;
        Ok(entry)
    }

    /// Write key PEM text (plain or encrypted) under the store, 0600 (see [`Store::write_file`]).
    pub fn write_key_pem(&self, index: &Index, rel: &Path, pem: &str) -> Result<()> {
        let pem = zeroize::Zeroizing::new(pem.as_bytes().to_vec());
        self.write_file(index, rel, &pem, SECRET_MODE)
    }

    /// Read a file of the store (a directory store's directories checked and
    /// the file opened without following a link).
    pub fn read_text(&self, rel: &Path) -> Result<String> {
        match &self.backend {
            Backend::Dir(d) => d.read_text(rel),
            Backend::Vault(v) => v.read_text(rel),
        }
    }

    /// Whether the store holds the file `rel`: a directory store's file is
    /// looked at, not read; a store in Vault has no file to look at, so its
    /// object is read.
    pub fn holds(&self, rel: &Path) -> bool {
        match &self.backend {
            Backend::Dir(d) => d.path(rel).is_file(),
            Backend::Vault(v) => v.read_text(rel).map(zeroize::Zeroizing::new).is_ok(),
        }
    }

    pub fn read_cert_der(&self, rel: &Path) -> Result<Vec<u8>> {
        crate::x509::cert::pem_to_der(&self.read_text(rel)?, &self.path(rel).display().to_string())
    }

    /// A small document beside the index (`hook.pending`), if there is one.
    pub fn read_doc(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Dir(d) => d.read_doc(name),
            Backend::Vault(v) => v.read_doc(name),
        }
    }

    /// Write a small document beside the index, replacing the one before.
    pub fn write_doc(&self, name: &str, data: &[u8]) -> Result<()> {
        match &self.backend {
            Backend::Dir(d) => d.write_doc(name, data),
            Backend::Vault(v) => v.write_doc(name, data),
        }
    }

    /// Remove a small document; a missing one is no error.
    pub fn remove_doc(&self, name: &str) -> Result<()> {
        match &self.backend {
            Backend::Dir(d) => d.remove_doc(name),
            Backend::Vault(v) => v.remove_doc(name),
        }
    }

    /// Where the audit log's chain ends: (seq, hash) of its last entry
    /// ((0, genesis) when empty). `done` says what became of the command's
    /// work when the log cannot be read ("nothing was changed: ").
    pub(crate) fn audit_head(&self, done: &str) -> Result<(u64, String)> {
        match &self.backend {
            Backend::Dir(d) => audit::dir_head(&d.dir, done),
            Backend::Vault(v) => v.audit_head(),
        }
    }

    /// Append chained audit lines with no change to the index. The caller
    /// holds the lock.
    pub(crate) fn append_audit(&self, entries: &[audit::Entry]) -> Result<()> {
        match &self.backend {
            Backend::Dir(d) => audit::append_lines(&d.dir, entries),
            Backend::Vault(v) => v.commit(None, entries, || {}),
        }
    }

    /// The whole audit log as text (one entry per line); a missing log is empty.
    pub fn audit_text(&self) -> Result<String> {
        match &self.backend {
            Backend::Dir(d) => {
                d.guard()?;
                audit::read_dir_log(&d.dir)
            }
            Backend::Vault(v) => v.audit_text(),
        }
    }

    /// Where the audit log is, as messages name it.
    pub fn audit_location(&self) -> String {
        match &self.backend {
            Backend::Dir(d) => d.dir.join(audit::AUDIT_FILE).display().to_string(),
            Backend::Vault(v) => v.shown(Path::new("audit")),
        }
    }

    pub fn ca_paths(serial: &Serial) -> (PathBuf, PathBuf) {
        (
            PathBuf::from(format!("ca/{serial}.crt")),
            PathBuf::from(format!("ca/{serial}.key")),
        )
    }

    pub fn user_paths(user: &crate::x509::names::UserName, serial: &Serial) -> (PathBuf, PathBuf) {
        (
            PathBuf::from(format!("users/{user}/{serial}.crt")),
            PathBuf::from(format!("users/{user}/{serial}.key")),
        )
    }
}

/// A failure after the commit point: "the change was made, but" what
/// failed, and what becomes of the rest (`rest`), exit 1. The failed
/// step's own advice ("run the command again") is left out: the change is
/// made, and running the command again would make another.
pub fn after_commit(e: &Error, rest: &str) -> Error {
    let what = match e {
        Error::Io { what, path, source } => format!(
            "cannot {what} {}: {}",
            path.display(),
            crate::error::one_line(source)
        ),
        Error::Failed { msg, .. } | Error::Input { msg, .. } | Error::Refused { msg, .. } => {
            msg.clone()
        }
        other => other.to_string(),
    };
    Error::failed(format!("the change was made, but {what}"), rest)
}

/// One finding of [`Store::scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// False: a command would refuse the store because of it.
    pub ok: bool,
    pub message: String,
}

/// A change in progress, inside [`Store::transact`].
pub struct Tx<'a> {
    pub store: &'a Store,
    /// The clock of the command.
    pub now: OffsetDateTime,
    /// The index as read under the lock; the closure changes it.
    pub index: Index,
    before: Index,
    events: Vec<audit::Event>,
}

impl Tx<'_> {
    /// Record `event` in the audit log once the change is committed.
    pub fn record(&mut self, event: audit::Event) {
        self.events.push(event);
    }

    /// Record several events, in order.
    pub fn record_all(&mut self, events: impl IntoIterator<Item = audit::Event>) {
        self.events.extend(events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_store_says_to_run_init() {
        let d = tempfile::tempdir().unwrap();
        let e = Store::new(d.path().join("nope")).read_index().unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("pki init"));
    }

    fn store_with_index() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().join("s"));
        fs::private_dir(store.dir().unwrap()).unwrap();
        store.as_dir().unwrap().write_index(&Index::new()).unwrap();
        (d, store)
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-06-01 00:00 UTC)
    }

    #[test]
    fn a_transaction_commits_the_index_then_the_audit() {
        let (_d, store) = store_with_index();
        store
            .transact(false, now(), |tx| {
                tx.index.settings.crl_url = Some("http://x/c.crl".into());
                tx.record(audit::Event::new("test", audit::Kind::ConfigChanged));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            store.read_index().unwrap().settings.crl_url.as_deref(),
            Some("http://x/c.crl")
        );
        let log = audit::read(&store).unwrap();
        assert_eq!(audit::verify(&log).unwrap().len(), 1);

        // A torn last line (an interrupted append) is removed by the next
        // transaction, which records that it did, then its own change.
        let path = store.dir().unwrap().join(audit::AUDIT_FILE);
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"seq\":2");
        std::fs::write(&path, &text).unwrap();
        store
            .transact(false, now(), |tx| {
                tx.index.settings.crl_url = None;
                tx.record(audit::Event::new("test", audit::Kind::ConfigChanged));
                Ok(())
            })
            .unwrap();
        assert_eq!(store.read_index().unwrap().settings.crl_url, None);
        let log = audit::verify(&audit::read(&store).unwrap()).unwrap();
        let events: Vec<&str> = log.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            events,
            [
                "config-changed",
                "audit-torn-line-removed",
                "config-changed"
            ]
        );
        assert!(!store.dir().unwrap().join(audit::PENDING_FILE).exists());
    }

    #[test]
    fn a_pending_journal_is_completed_when_its_index_was_committed_and_dropped_otherwise() {
        let (_d, store) = store_with_index();
        let index = std::fs::read(store.dir().unwrap().join(INDEX_FILE)).unwrap();
        let journal = |sha: String| {
            let log = audit::Appender::open(&store, now(), None, "").unwrap();
            audit::Pending {
                index_sha256: sha,
                entries: log.chain(vec![audit::Event::new("test", audit::Kind::ConfigChanged)]),
            }
        };
        // Not the index on disk: the change never committed.
        audit::write_pending(store.dir().unwrap(), &journal("0".repeat(64))).unwrap();
        store.transact(false, now(), |_| Ok(())).unwrap();
        assert!(audit::read(&store).unwrap().is_empty());
        assert!(!store.dir().unwrap().join(audit::PENDING_FILE).exists());
        // The index on disk: committed. Lines the log already has (the
        // append got through, the journal was not removed yet) are kept once.
        let p = journal(crate::x509::cert::sha256_hex(&index));
        audit::write_pending(store.dir().unwrap(), &p).unwrap();
        audit::Appender::open(&store, now(), None, "")
            .unwrap()
            .write(&p.entries)
            .unwrap();
        store.transact(false, now(), |_| Ok(())).unwrap();
        let log = audit::verify(&audit::read(&store).unwrap()).unwrap();
        assert_eq!(log.len(), 1);
        // Lines it lacks are appended, and the completion is recorded.
        let (_d, store) = store_with_index();
        let p = {
            let log = audit::Appender::open(&store, now(), None, "").unwrap();
            audit::Pending {
                index_sha256: crate::x509::cert::sha256_hex(&index),
                entries: log.chain(vec![audit::Event::new("test", audit::Kind::ConfigChanged)]),
            }
        };
        audit::write_pending(store.dir().unwrap(), &p).unwrap();
        store.transact(false, now(), |_| Ok(())).unwrap();
        let log = audit::verify(&audit::read(&store).unwrap()).unwrap();
        let events: Vec<&str> = log.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(events, ["config-changed", "audit-completed"]);
    }

    #[test]
    fn a_failed_transaction_writes_nothing() {
        let (_d, store) = store_with_index();
        let index_before = std::fs::read(store.dir().unwrap().join(INDEX_FILE)).unwrap();
        let e = store
            .transact(false, now(), |tx| -> Result<()> {
                tx.index.settings.crl_url = Some("http://x/c.crl".into());
                tx.record(audit::Event::new("test", audit::Kind::ConfigChanged));
                Err(Error::input("refused", "on purpose"))
            })
            .unwrap_err();
        assert_eq!(e.code(), 2);
        assert_eq!(
            std::fs::read(store.dir().unwrap().join(INDEX_FILE)).unwrap(),
            index_before
        );
        assert!(!store.dir().unwrap().join(audit::AUDIT_FILE).exists());
    }

    #[test]
    fn an_unchanged_index_is_not_rewritten_but_events_are_recorded() {
        let (_d, store) = store_with_index();
        let path = store.dir().unwrap().join(INDEX_FILE);
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        store
            .transact(false, now(), |tx| {
                tx.record(audit::Event::new(
                    "export",
                    audit::Kind::Exported(audit::Material::CaKey),
                ));
                Ok(())
            })
            .unwrap();
        // write_index replaces the file by rename: the same inode means no write.
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap()),
            inode
        );
        assert_eq!(
            audit::verify(&audit::read(&store).unwrap()).unwrap().len(),
            1
        );
    }
}
