//! The on-disk store (layout documented in `docs/store.md`).
//!
//! ```text
//! <store>/                 0700
//!   index.json             0600  the one source of truth: current CA, every certificate, settings
//!   .lock                        taken by every command that writes
//!   ca/<serial>.crt        0644  every CA certificate ever made here
//!   ca/<serial>.key        0600  and its key
//!   users/<user>/<serial>.crt / .key   every certificate issued to <user>, and its key
//! ```
//!
//! Files are named by serial and never rewritten, so a new certificate and key
//! are written beside the old ones and only the atomic replacement of
//! `index.json` makes them current. A crash at any instant leaves the index
//! naming a complete, matching old pair or a complete, matching new one;
//! files written by an interrupted run are orphans no index names.

pub mod audit;
pub mod fs;
pub mod hook;
mod index;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::x509::cert::CertInfo;
use crate::x509::keys::{KeyFormat, PrivateKey};
use crate::x509::serial::Serial;
use fs::{Replace, PUBLIC_MODE, SECRET_MODE};

pub use index::*;

/// The directories of a store.
pub const STORE_DIRS: [&str; 3] = ["ca", "users", "crl"];
/// The lock every writer takes.
pub const LOCK_FILE: &str = ".lock";

/// A store directory.
#[derive(Clone, Debug)]
pub struct Store {
    pub dir: PathBuf,
    /// Set once this run has replaced the index (see [`Store::after_commit_io`]).
    committed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store {
            dir: dir.into(),
            committed: Default::default(),
        }
    }

    pub fn path(&self, rel: &Path) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn exists(&self) -> bool {
        self.dir.join(INDEX_FILE).exists()
    }

    /// Refuse (exit 4, nothing changed) to make a store in a directory that
    /// exists, is not empty and is not a store: `init` must not chmod
    /// someone's folder and drop `ca/` among their files. A directory holding
    /// only what a killed `init` leaves (the lock, `ca/`, temporary files) is
    /// a store in the making, so running `init` again succeeds.
    pub fn refuse_foreign_dir(&self) -> Result<()> {
        const OURS: [&str; 8] = [
            INDEX_FILE,
            ".lock",
            audit::AUDIT_FILE,
            audit::PENDING_FILE,
            hook::HOOK_FILE,
            "ca",
            "users",
            "crl",
        ];
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        let foreign = entries.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (!OURS.contains(&name.as_str()) && !name.starts_with(".tmp-")).then_some(name)
        });
        if self.is_easy_rsa() {
            return Err(Error::refused(self.easy_rsa_problem(), Self::EASY_RSA_HINT));
        }
        match foreign {
            None => Ok(()),
            Some(name) => Err(Error::refused(
                format!(
                    "{} is not empty (it holds {name:?}) and is not a pki store",
                    self.dir.display()
                ),
                "give --dir (or PKI_DIR) a new or empty directory; pki does not put a CA among other files",
            )),
        }
    }

    /// What to do when the store's directory is an easy-rsa PKI.
    const EASY_RSA_HINT: &'static str = "give pki a directory of its own with --dir (or PKI_DIR), e.g. `pki --dir ./ephemeral-store-pki init`; to adopt the easy-rsa CA instead: `pki --dir ./ephemeral-store-pki import --cert pki/ca.crt --key pki/private/ca.key`";

    /// Whether the directory is a PKI easy-rsa made (`easyrsa init-pki`
    /// makes `private/` and `reqs/`; `build-ca` and signing add `issued/`
    /// and more): easy-rsa's default directory is `./pki`, as ours is.
    fn is_easy_rsa(&self) -> bool {
        ["private", "reqs"]
            .iter()
            .all(|d| self.dir.join(d).is_dir())
    }

    fn easy_rsa_problem(&self) -> String {
        format!(
            "{} is an easy-rsa PKI (it holds private/ and reqs/), not a pki store",
            self.dir.display()
        )
    }

    /// The refusal of a command that needs a store where there is none:
    /// how to make one, or, in an easy-rsa PKI, to pick another directory.
    fn no_store(&self) -> Error {
        if self.is_easy_rsa() {
            Error::input(self.easy_rsa_problem(), Self::EASY_RSA_HINT)
        } else {
            Error::NoStore {
                dir: self.dir.clone(),
            }
        }
    }

    /// Refuse a store that is not private to the user running pki (exit 2,
    /// naming the path and the fix): the store directory, `ca/`, `users/`,
    /// `crl/`, the index, the lock and the audit log must each be owned by
    /// this uid, not writable by group or others, and not a symbolic link.
    /// Files deeper down are checked as they are opened. A missing store
    /// passes (commands then say to run `pki init`).
    pub fn guard(&self) -> Result<()> {
        // A trailing slash would make lstat follow a link: check the name itself.
        let dir: PathBuf = self.dir.components().collect();
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if !m.is_dir() && !m.file_type().is_symlink() => {
                return Err(Error::input(
                    format!("{} is not a directory", self.dir.display()),
                    "point --dir (or PKI_DIR) at a pki store directory",
                ))
            }
            Ok(_) => {
                fs::check_path(&dir, fs::Kind::Dir)?;
            }
            Err(_) => return Ok(()),
        }
        for d in STORE_DIRS {
            fs::check_path(&self.dir.join(d), fs::Kind::Dir)?;
        }
        for f in [INDEX_FILE, LOCK_FILE, audit::AUDIT_FILE] {
            fs::check_path(&self.dir.join(f), fs::Kind::Any)?;
        }
        Ok(())
    }

    /// Walk the whole store without following anything: every path a
    /// command would refuse ([`fs::untrusted`]: `ok` false) and every stale
    /// temporary file the next locked run will remove (`ok` true), for
    /// `pki verify`.
    pub fn scan(&self) -> Vec<Scanned> {
        fn walk(dir: &Path, out: &mut Vec<Scanned>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            let mut entries: Vec<_> = rd.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                let Ok(m) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                if let Some(err) = fs::untrusted(&p, &m, fs::Kind::Any) {
                    out.push(Scanned {
                        ok: false,
                        message: err.to_string(),
                    });
                } else if e.file_name().to_string_lossy().starts_with(fs::TEMP_PREFIX) {
                    out.push(Scanned {
                        ok: true,
                        message: format!(
                            "{} is a temporary file left by an interrupted run; the next pki that takes the store lock removes it",
                            p.display()
                        ),
                    });
                } else if m.is_dir() {
                    walk(&p, out);
                }
            }
        }
        let dir: PathBuf = self.dir.components().collect();
        let Ok(m) = std::fs::symlink_metadata(&dir) else {
            return Vec::new();
        };
        if let Some(err) = fs::untrusted(&self.dir, &m, fs::Kind::Dir) {
            return vec![Scanned {
                ok: false,
                message: err.to_string(),
            }];
        }
        let mut out = Vec::new();
        walk(&self.dir, &mut out);
        out
    }

    /// Read the index; a missing store is exit 2 with a hint to run `pki
    /// init`, a store that is not private is refused ([`Store::guard`]),
    /// and so is an index whose entries are not what pki writes
    /// ([`Index::validate`]).
    pub fn read_index(&self) -> Result<Index> {
        self.guard()?;
        let path = self.dir.join(INDEX_FILE);
        let text = match fs::read_private(&path, fs::Kind::Any) {
            Ok(t) => t,
            Err(Ok(refusal)) => return Err(refusal),
            Err(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.no_store()),
            Err(Err(source)) => return Err(Error::Read { path, source }),
        };
        // The plain reader first (tracking the path of every value would
        // triple the cost of a large index); only a refused index is read
        // again, to say where it went wrong.
        let index: Index = serde_json::from_slice(&text)
            .or_else(|_| {
                let mut de = serde_json::Deserializer::from_slice(&text);
                serde_path_to_error::deserialize(&mut de)
            })
            .map_err(|e| {
                if let Some(refusal) = Index::unknown_reason(&text, &path) {
                    return refusal;
                }
                // A serial not in the form pki writes: the entry is named by
                // where it stands ("certificates[3].serial"), like every other
                // bad entry (Serial's reader words the problem).
                let at = e.path().to_string();
                if at.ends_with("serial")
                    && e.inner().classify() == serde_json::error::Category::Data
                {
                    return Error::BadIndex {
                        path: path.clone(),
                        entry: at,
                        problem: crate::error::one_line(&e.into_inner())
                            .split(" at line ")
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    };
                }
                let e = e.into_inner();
                Error::failed(
                    format!(
                        "{} is damaged: {}",
                        path.display(),
                        crate::error::one_line(&e)
                    ),
                    "restore it from a backup; the certificates and keys beside it are intact",
                )
            })?;
        if index.format != INDEX_FORMAT {
            return Err(Error::failed(
                format!(
                    "{} has format {}, this pki reads format {INDEX_FORMAT}",
                    path.display(),
                    index.format
                ),
                "use the pki version that made this store",
            ));
        }
        index.validate(&path)?;
        crate::ui::trace(format!(
            "read {} ({} certificate(s)): the store's state",
            path.display(),
            index.certificates.len()
        ));
        Ok(index)
    }

    /// Replace the index atomically: the single commit point of every change.
    pub fn write_index(&self, index: &Index) -> Result<()> {
        self.write_index_text(&crate::ui::to_text(index, "the index")?)
    }

    fn write_index_text(&self, text: &str) -> Result<()> {
        let path = self.dir.join(INDEX_FILE);
        fs::write_atomic(&path, text.as_bytes(), SECRET_MODE, Replace::Allow)?;
        crate::ui::trace(format!(
            "wrote {} (0600): the commit point, the change is now current",
            path.display()
        ));
        Ok(())
    }

    /// One change to the store, the only way commands mutate it: take the
    /// lock (waiting when `wait`), re-read the index (a new empty one when
    /// `create` and there is none yet), and let `f` make its files and
    /// change `tx.index`. When `f` succeeds, the index is written if it
    /// changed (the single commit point), then the events `f` recorded are
    /// appended to the audit log. When `f` fails, neither is written: files
    /// it made are orphans no index names.
    pub fn transact<T>(
        &self,
        wait: bool,
        now: OffsetDateTime,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transact_in(wait, now, false, f)
    }

    /// [`Store::transact`] for `init`: a store without an index starts empty.
    pub fn transact_new<T>(
        &self,
        wait: bool,
        now: OffsetDateTime,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transact_in(wait, now, true, f)
    }

    fn transact_in<T>(
        &self,
        wait: bool,
        now: OffsetDateTime,
        create: bool,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        // Refuse an untrusted store, or say how to make one, before the lock
        // is taken; the index is validated as it is read under the lock,
        // before anything is written (read once more first when there is
        // no lock file yet, which taking the lock would create).
        self.guard()?;
        if !create && !self.exists() {
            return Err(self.no_store());
        }
        if self.exists() && !self.dir.join(LOCK_FILE).exists() {
            self.read_index()?;
        }
        let _lock = fs::Lock::acquire(&self.dir, wait)?;
        // What an interrupted run may have left is in the directories
        // changed since the last commit: listed once (one stat per user).
        let changed = self.temp_dirs();
        fs::remove_temp_files(changed.iter().cloned())?;
        audit::recover(self, now)?;
        let index = if create && !self.exists() {
            Index::new()
        } else {
            self.read_index()?
        };
        self.remove_orphans(&index, &changed)?;
        let mut tx = Tx {
            store: self,
            now,
            before: index.clone(),
            index,
            events: Vec::new(),
        };
        let out = f(&mut tx)?;
        if tx.index == tx.before {
            if !tx.events.is_empty() {
                audit::record_all(self, now, tx.events)?;
            }
            return Ok(out);
        }
        self.commit(&tx.index, tx.events, now)?;
        Ok(out)
    }

    /// Write `index` and record `events` as one commit (docs/store.md): the
    /// chained lines go to the pending journal first, then the index is
    /// replaced (the commit point), then the lines are appended and the
    /// journal removed. A failure before the commit point changes nothing;
    /// one after it says "the change was made", and the next run holding
    /// the lock appends what is still pending ([`audit::recover`]).
    fn commit(&self, index: &Index, events: Vec<audit::Event>, now: OffsetDateTime) -> Result<()> {
        let text = crate::ui::to_text(index, "the index")?;
        let index_sha256 = crate::x509::cert::sha256_hex(text.as_bytes());
        let mut log = audit::Appender::open(self, now, None, "nothing was changed: ")?;
        let entries = log.chain(events);
        if !entries.is_empty() {
            audit::write_pending(
                self,
                &audit::Pending {
                    index_sha256: index_sha256.clone(),
                    entries: entries.clone(),
                },
            )?;
        }
        let late = match self.write_index_text(&text) {
            Ok(()) => None,
            // The rename may have happened and a later step (the directory
            // sync) failed: the index on disk says which.
            Err(e) if self.index_sha256().as_deref() == Some(index_sha256.as_str()) => Some(e),
            Err(e) => {
                // Not committed: the journal goes (or the next run drops it).
                let _ = audit::remove_pending(self);
                return Err(e);
            }
        };
        self.committed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let pending = "its audit record is kept in audit.pending and the next pki run that takes the store lock appends it";
        log.write(&entries).map_err(|e| after_commit(&e, pending))?;
        audit::remove_pending(self).map_err(|e| {
            after_commit(&e, "the audit record is complete; the next pki run that takes the store lock removes audit.pending")
        })?;
        match late {
            None => Ok(()),
            Some(e) => Err(after_commit(
                &e,
                "it is recorded in the audit log; check the store with `pki verify`, and do not run the command again",
            )),
        }
    }

    /// The error a command ends with, worded for what happened: an I/O
    /// failure after this run committed a change (writing its report to
    /// stdout, reading a file after the commit) says "the change was made,
    /// but ...", never "run the command again", which would make a second
    /// change. Other errors carry their own words.
    pub fn after_commit_io(&self, e: Error) -> Error {
        let committed = self.committed.load(std::sync::atomic::Ordering::SeqCst);
        if committed && matches!(e, Error::Io { .. }) {
            after_commit(
                &e,
                "it is recorded in the audit log (or the next run that takes the store lock records it); check the store with `pki verify`, and do not run the command again",
            )
        } else {
            e
        }
    }

    /// SHA-256 of `index.json` as it is on disk (None when it cannot be read).
    pub(crate) fn index_sha256(&self) -> Option<String> {
        fs::read_private(&self.dir.join(INDEX_FILE), fs::Kind::File)
            .ok()
            .map(|b| crate::x509::cert::sha256_hex(&b))
    }

    /// Take the store lock (exit 4 when held and not waiting). Whoever
    /// holds it is the only pki writing here, so stale temporary files of
    /// killed runs are removed now, and what an interrupted commit left is
    /// finished ([`audit::recover`]).
    pub fn lock(&self, wait: bool, now: OffsetDateTime) -> Result<fs::Lock> {
        let lock = fs::Lock::acquire(&self.dir, wait)?;
        fs::remove_temp_files(self.temp_dirs())?;
        audit::recover(self, now)?;
        Ok(lock)
    }

    /// The directories where a run killed since the last commit can have
    /// left temporary files: the store, `ca/`, `crl/`, `users/`, and each
    /// `users/<user>/` changed since `index.json` was last written (a
    /// temporary file is made, and removed, only under the lock, and the
    /// run that makes one either commits after removing it or is killed
    /// before committing: so one left behind is always newer than the
    /// index). That spares a stat-and-read of every user's directory on
    /// each command in a store of thousands.
    pub fn temp_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.dir.clone()];
        dirs.extend(STORE_DIRS.iter().map(|d| self.dir.join(d)));
        let committed = std::fs::symlink_metadata(self.dir.join(INDEX_FILE))
            .and_then(|m| m.modified())
            .ok();
        if let Ok(rd) = std::fs::read_dir(self.dir.join("users")) {
            dirs.extend(rd.flatten().filter_map(|e| {
                let m = e.metadata().ok().filter(|m| m.is_dir())?;
                let changed = match (committed, m.modified()) {
                    (Some(c), Ok(t)) => t >= c,
                    _ => true,
                };
                changed.then(|| e.path())
            }));
        }
        dirs
    }

    /// The key and certificate files in `dirs` (user directories, as
    /// `users/<user>`) that `index` does not name, relative to the store:
    /// what a batch killed (SIGINT, a crash) or failed before its commit
    /// wrote. Their certificates were never current and their keys never
    /// left the store.
    pub fn orphans_in(&self, index: &Index, dirs: &[PathBuf]) -> Vec<PathBuf> {
        let users = self.dir.join("users");
        let mut out = Vec::new();
        for dir in dirs.iter().filter(|d| d.parent() == Some(users.as_path())) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let ours = p.extension().is_some_and(|x| x == "crt" || x == "key")
                    && e.file_type().is_ok_and(|t| t.is_file());
                let Ok(rel) = p.strip_prefix(&self.dir) else {
                    continue;
                };
                if ours && !index.names(rel) {
                    out.push(rel.to_path_buf());
                }
            }
        }
        out.sort();
        out
    }

    /// Every user directory, for `verify`'s look at orphans.
    pub fn user_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.join("users"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Remove the orphans of an interrupted run ([`Store::orphans_in`]) from
    /// the user directories changed since the index was written (where a
    /// killed run leaves them; see [`Store::temp_dirs`]). Only under the
    /// store lock, with `index` as read under it: no other pki is writing.
    fn remove_orphans(&self, index: &Index, changed: &[PathBuf]) -> Result<()> {
        for rel in self.orphans_in(index, changed) {
            let p = self.path(&rel);
            std::fs::remove_file(&p)
                .map_err(|e| Error::io("remove the orphan of an interrupted run", &p, e))?;
        }
        Ok(())
    }

    /// Write a new file of the store (0600 or 0644 as `mode` says), never
    /// replacing a file `index` names. A file already at `rel` that the
    /// index does not name is an orphan of an interrupted run (its files
    /// were written, its index was not): it is replaced, so a retry of the
    /// very same command never jams on it (a CRL number, an imported
    /// serial).
    pub fn write_file(&self, index: &Index, rel: &Path, data: &[u8], mode: u32) -> Result<()> {
        self.write_file_in(index, rel, data, mode, None)
    }

    /// [`Store::write_file`] as one file of `batch` ([`fs::Batch`]): not
    /// synced here, so not durable until the batch is synced, which its
    /// caller does before the index names the file.
    pub fn write_file_in(
        &self,
        index: &Index,
        rel: &Path,
        data: &[u8],
        mode: u32,
        batch: Option<&mut fs::Batch>,
    ) -> Result<()> {
        self.ensure_parent(rel)?;
        let path = self.path(rel);
        let orphan = fs::check_path(&path, fs::Kind::File)? && !index.names(rel);
        let replace = if orphan {
            Replace::Allow
        } else {
            Replace::Never
        };
        fs::write_atomic_in(&path, data, mode, replace, batch)?;
        let what = if mode == SECRET_MODE {
            "a new private key"
        } else {
            "a new certificate, not current until the index names it"
        };
        crate::ui::trace(format!("wrote {} ({mode:04o}): {what}", path.display()));
        Ok(())
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

    /// Create (0700) or check every directory from the store down to `rel`'s.
    fn ensure_parent(&self, rel: &Path) -> Result<()> {
        let mut dir = self.dir.clone();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            fs::store_dir(&dir)?;
        }
        Ok(())
    }

    /// Check, without following links, every directory between the store
    /// and the file `rel`.
    fn check_parents(&self, rel: &Path) -> Result<()> {
        let mut dir = self.dir.clone();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            fs::check_path(&dir, fs::Kind::Dir)?;
        }
        Ok(())
    }

    /// Read a file of the store: its directories checked, the file opened
    /// without following a link and checked before it is read.
    pub fn read_text(&self, rel: &Path) -> Result<String> {
        let path = self.path(rel);
        self.check_parents(rel)?;
        let bytes = fs::read_private(&path, fs::Kind::File).map_err(|e| match e {
            Ok(refusal) => refusal,
            Err(e) => Error::failed(
                format!(
                    "the store names {} but it cannot be read: {}",
                    path.display(),
                    crate::error::one_line(&e)
                ),
                "restore the file from a backup, or re-issue with --force",
            ),
        })?;
        String::from_utf8(bytes).map_err(|_| {
            Error::failed(
                format!("{} is not text", path.display()),
                "restore it from a backup",
            )
        })
    }

    pub fn read_cert_der(&self, rel: &Path) -> Result<Vec<u8>> {
        crate::x509::cert::pem_to_der(&self.read_text(rel)?, &self.path(rel).display().to_string())
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
        fs::private_dir(&store.dir).unwrap();
        store.write_index(&Index::new()).unwrap();
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
        let path = store.dir.join(audit::AUDIT_FILE);
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
        assert!(!store.dir.join(audit::PENDING_FILE).exists());
    }

    #[test]
    fn a_pending_journal_is_completed_when_its_index_was_committed_and_dropped_otherwise() {
        let (_d, store) = store_with_index();
        let index = std::fs::read(store.dir.join(INDEX_FILE)).unwrap();
        let journal = |sha: String| {
            let log = audit::Appender::open(&store, now(), None, "").unwrap();
            audit::Pending {
                index_sha256: sha,
                entries: log.chain(vec![audit::Event::new("test", audit::Kind::ConfigChanged)]),
            }
        };
        // Not the index on disk: the change never committed.
        audit::write_pending(&store, &journal("0".repeat(64))).unwrap();
        store.transact(false, now(), |_| Ok(())).unwrap();
        assert!(audit::read(&store).unwrap().is_empty());
        assert!(!store.dir.join(audit::PENDING_FILE).exists());
        // The index on disk: committed. Lines the log already has (the
        // append got through, the journal was not removed yet) are kept once.
        let p = journal(crate::x509::cert::sha256_hex(&index));
        audit::write_pending(&store, &p).unwrap();
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
        audit::write_pending(&store, &p).unwrap();
        store.transact(false, now(), |_| Ok(())).unwrap();
        let log = audit::verify(&audit::read(&store).unwrap()).unwrap();
        let events: Vec<&str> = log.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(events, ["config-changed", "audit-completed"]);
    }

    #[test]
    fn a_failed_transaction_writes_nothing() {
        let (_d, store) = store_with_index();
        let index_before = std::fs::read(store.dir.join(INDEX_FILE)).unwrap();
        let e = store
            .transact(false, now(), |tx| -> Result<()> {
                tx.index.settings.crl_url = Some("http://x/c.crl".into());
                tx.record(audit::Event::new("test", audit::Kind::ConfigChanged));
                Err(Error::input("refused", "on purpose"))
            })
            .unwrap_err();
        assert_eq!(e.code(), 2);
        assert_eq!(
            std::fs::read(store.dir.join(INDEX_FILE)).unwrap(),
            index_before
        );
        assert!(!store.dir.join(audit::AUDIT_FILE).exists());
    }

    #[test]
    fn an_unchanged_index_is_not_rewritten_but_events_are_recorded() {
        let (_d, store) = store_with_index();
        let path = store.dir.join(INDEX_FILE);
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
