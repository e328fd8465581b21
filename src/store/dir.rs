//! The directory store (docs/store.md): one directory on this host.
//!
//! ```text
//! <store>/                 0700
//!   index.json             0600  the one source of truth: current CA, every certificate, settings
//!   .lock                        taken by every command that writes
//!   audit.jsonl            0600  the hash-chained audit log
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

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::fs::{self, Replace, SECRET_MODE};
use super::{after_commit, audit, hook, Index, Scanned, INDEX_FILE, LOCK_FILE, STORE_DIRS};
use crate::error::{Error, Result};

/// A store directory.
#[derive(Clone, Debug)]
pub struct DirStore {
    pub dir: PathBuf,
}

impl DirStore {
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
    /// init`, a store that is not private is refused ([`DirStore::guard`]),
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
        let index = Index::parse(&text, &path)?;
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

    /// SHA-256 of `index.json` as it is on disk (None when it cannot be read).
    pub(crate) fn index_sha256(&self) -> Option<String> {
        fs::read_private(&self.dir.join(INDEX_FILE), fs::Kind::File)
            .ok()
            .map(|b| crate::x509::cert::sha256_hex(&b))
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

    /// Remove the orphans of an interrupted run ([`DirStore::orphans_in`]) from
    /// the user directories changed since the index was written (where a
    /// killed run leaves them; see [`DirStore::temp_dirs`]). Only under the
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
    /// serial). With a `batch` ([`fs::Batch`]) it is not synced here, so
    /// not durable until the batch is synced, which its caller does before
    /// the index names the file.
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

    /// Take the store lock (exit 4 when held and not waiting). Whoever
    /// holds it is the only pki writing here, so stale temporary files of
    /// killed runs are removed now, and what an interrupted commit left is
    /// finished ([`audit::recover`]). Returns the lock and the directories
    /// changed since the last commit (where orphans can be).
    pub fn lock(&self, wait: bool, now: OffsetDateTime) -> Result<(fs::Lock, Vec<PathBuf>)> {
        let lock = fs::Lock::acquire(&self.dir, wait)?;
        // What an interrupted run may have left is in the directories
        // changed since the last commit: listed once (one stat per user).
        let changed = self.temp_dirs();
        fs::remove_temp_files(changed.iter().cloned())?;
        audit::recover(self, now)?;
        Ok((lock, changed))
    }

    /// Before the lock is taken: refuse an untrusted store, or say how to
    /// make one; read the index once when there is no lock file yet, which
    /// taking the lock would create, so a bad index changes nothing.
    pub fn before_lock(&self, create: bool) -> Result<()> {
        self.guard()?;
        if !create && !self.exists() {
            return Err(self.no_store());
        }
        if self.exists() && !self.dir.join(LOCK_FILE).exists() {
            self.read_index()?;
        }
        Ok(())
    }

    /// Under the lock: the index (a new empty one when `create` and there
    /// is none yet), with the orphans of an interrupted run removed from
    /// the directories `changed` since the last commit.
    pub fn begin(&self, create: bool, changed: &[PathBuf]) -> Result<Index> {
        let index = if create && !self.exists() {
            Index::new()
        } else {
            self.read_index()?
        };
        self.remove_orphans(&index, changed)?;
        Ok(index)
    }

    /// Write `text` (the index) and append `entries` as one commit
    /// (docs/store.md): the chained lines go to the pending journal first,
    /// then the index is replaced (the commit point: `committed` is called),
    /// then the lines are appended and the journal removed. A failure
    /// before the commit point changes nothing; one after it says "the
    /// change was made", and the next run holding the lock appends what is
    /// still pending ([`audit::recover`]).
    pub fn commit(
        &self,
        text: &str,
        entries: &[audit::Entry],
        committed: impl FnOnce(),
    ) -> Result<()> {
        let index_sha256 = crate::x509::cert::sha256_hex(text.as_bytes());
        if !entries.is_empty() {
            audit::write_pending(
                &self.dir,
                &audit::Pending {
                    index_sha256: index_sha256.clone(),
                    entries: entries.to_vec(),
                },
            )?;
        }
        let late = match self.write_index_text(text) {
            Ok(()) => None,
            // The rename may have happened and a later step (the directory
            // sync) failed: the index on disk says which.
            Err(e) if self.index_sha256().as_deref() == Some(index_sha256.as_str()) => Some(e),
            Err(e) => {
                // Not committed: the journal goes (or the next run drops it).
                let _ = audit::remove_pending(&self.dir);
                return Err(e);
            }
        };
        committed();
        let pending = "its audit record is kept in audit.pending and the next pki run that takes the store lock appends it";
        audit::append_lines(&self.dir, entries).map_err(|e| after_commit(&e, pending))?;
        audit::remove_pending(&self.dir).map_err(|e| {
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

    /// Replace the index and the whole audit log (`pki store copy`): the
    /// log is written first, then the index (the commit point). The caller
    /// holds the lock.
    pub fn replace_all(
        &self,
        text: &str,
        log: &[audit::Entry],
        committed: impl FnOnce(),
    ) -> Result<()> {
        let path = audit::log_path(&self.dir);
        fs::write_atomic(
            &path,
            audit::lines(log).as_bytes(),
            SECRET_MODE,
            Replace::Allow,
        )?;
        audit::remove_pending(&self.dir)?;
        self.write_index_text(text)?;
        committed();
        Ok(())
    }

    /// A small document of the store beside the index (`hook.pending`).
    pub fn read_doc(&self, name: &str) -> Result<Option<Vec<u8>>> {
        fs::read_if_present(&self.dir.join(name), fs::Kind::File)
    }

    /// Write a small document atomically, 0600, replacing the one before.
    pub fn write_doc(&self, name: &str, data: &[u8]) -> Result<()> {
        fs::write_atomic(&self.dir.join(name), data, SECRET_MODE, Replace::Allow)
    }

    /// Remove a small document (and sync the store directory).
    pub fn remove_doc(&self, name: &str) -> Result<()> {
        let p = self.dir.join(name);
        match std::fs::remove_file(&p) {
            Ok(()) => fs::sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &p, e)),
        }
    }
}
