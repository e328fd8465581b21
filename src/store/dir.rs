//! The directory store (docs/store.md): one directory on this host.
//!
//! ```text
//! <store>/                 0700
//!   index.json             0600  the one source of truth: current CA, every certificate, settings
//!   index.d/<shard>.<n>.jsonl 0600 past 1,000 certificates, their entries (index.json names the files)
//!   users.intent           0600  the users a run holding the lock writes for
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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::fs::{self, Replace, SECRET_MODE};
use super::{after_commit, audit, hook, shard, Index, Scanned, INDEX_FILE, LOCK_FILE, STORE_DIRS};
use crate::error::{Error, Result};

/// A store directory.
#[derive(Clone, Debug)]
pub struct DirStore {
    pub dir: PathBuf,
    /// The users whose directories this run has said it writes into
    /// ([`INTENT_FILE`]).
    intent: Arc<Mutex<BTreeSet<String>>>,
}

/// The users whose directories a run holding the lock writes into, one
/// name per line, appended (and synced) before the first file is made in
/// each: where a run killed before its commit can have left temporary
/// files and orphans, for the next run that takes the lock to remove. It
/// is emptied once that is done, and after each commit.
pub const INTENT_FILE: &str = "users.intent";

impl DirStore {
    pub fn new(dir: PathBuf) -> DirStore {
        DirStore {
            dir,
            intent: Default::default(),
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
        const OURS: [&str; 10] = [
            INDEX_FILE,
            shard::SHARD_DIR,
            INTENT_FILE,
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
        for d in STORE_DIRS.iter().chain([&shard::SHARD_DIR]) {
            fs::check_path(&self.dir.join(d), fs::Kind::Dir)?;
        }
        for f in [INDEX_FILE, LOCK_FILE, audit::AUDIT_FILE, INTENT_FILE] {
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
        self.read_index_for(None)
    }

    /// [`DirStore::read_index`]; an index in shards ([`shard`]) with only
    /// the entries of `users` when they are given.
    pub fn read_index_for(&self, users: Option<&[String]>) -> Result<Index> {
        self.guard()?;
        let path = self.dir.join(INDEX_FILE);
        // A reader holds no lock: a writer may replace the index, and
        // remove the shard files it named, while they are read. Read again
        // when that is what happened.
        let mut tries = 0;
        let index = loop {
            let text = self.read_index_text()?;
            let mut index = Index::from_text(&text, &path)?;
            index.check_format(&path, shard::SHARDED_FORMAT)?;
            if index.shards.is_none() {
                index.validate(&path)?;
                break index;
            }
            match shard::assemble(&mut index, &path, users, |rel, buf| {
                self.read_shard(rel, buf)
            }) {
                Ok(()) => break index,
                Err(_) if tries < 10 && self.read_index_text().ok().as_ref() != Some(&text) => {
                    tries += 1
                }
                Err(e) => return Err(e),
            }
        };
        crate::ui::trace(format!(
            "read {} ({} certificate(s){}): the store's state",
            path.display(),
            index.certificates.len(),
            if index.layout.as_ref().is_some_and(shard::Layout::partial) {
                ", from the shards of the users named"
            } else {
                ""
            }
        ));
        Ok(index)
    }

    fn read_index_text(&self) -> Result<Vec<u8>> {
        let path = self.dir.join(INDEX_FILE);
        match fs::read_private(&path, fs::Kind::Any) {
            Ok(t) => Ok(t),
            Err(Ok(refusal)) => Err(refusal),
            Err(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(self.no_store()),
            Err(Err(source)) => Err(Error::Read { path, source }),
        }
    }

    /// A shard file `index.json` names, read as every file of the store is.
    fn read_shard(&self, rel: &Path, buf: &mut Vec<u8>) -> Result<()> {
        self.check_parents(rel)?;
        let path = self.path(rel);
        fs::read_private_into(&path, fs::Kind::File, buf).map_err(|e| match e {
            Ok(refusal) => refusal,
            Err(e) => Error::failed(
                format!(
                    "{} names {} but it cannot be read: {}",
                    self.dir.join(INDEX_FILE).display(),
                    path.display(),
                    crate::error::one_line(&e)
                ),
                "restore the store's index.json and index.d/ from a backup; the certificates and keys beside them are intact",
            ),
        })
    }

    /// Replace the index atomically: the single commit point of every change.
    pub fn write_index(&self, index: &Index) -> Result<()> {
        let encoded = shard::encode(index, None)?;
        self.write_shards(&encoded.shards)?;
        self.write_index_text(&encoded.index)?;
        self.remove_replaced(&encoded.replaced);
        Ok(())
    }

    /// Write the shard files an index is about to name, durable before it does.
    fn write_shards(&self, shards: &[(PathBuf, String)]) -> Result<()> {
        let Some((first, _)) = shards.first() else {
            return Ok(());
        };
        self.ensure_parent(first)?;
        let mut batch = fs::Batch::start(&self.dir)?;
        for (rel, text) in shards {
            // A file of this name is an orphan of an interrupted run: the
            // index names no file of a generation it has not reached.
            fs::write_atomic_in(
                &self.path(rel),
                text.as_bytes(),
                SECRET_MODE,
                Replace::Allow,
                Some(&mut batch),
            )?;
        }
        batch.sync()?;
        crate::ui::trace(format!(
            "wrote {} shard file(s) of the index under {} (0600), not current until index.json names them",
            shards.len(),
            self.dir.join(shard::SHARD_DIR).display()
        ));
        Ok(())
    }

    /// Remove the shard files a commit stopped naming. After the commit,
    /// so a failure changes nothing: the next run that takes the lock
    /// removes what is left ([`DirStore::remove_unnamed_shards`]).
    fn remove_replaced(&self, replaced: &[PathBuf]) {
        for rel in replaced {
            let _ = std::fs::remove_file(self.path(rel));
        }
    }

    /// Under the lock: remove the files of `index.d/` that `index` does not
    /// name (those a commit replaced, and those of an interrupted one).
    fn remove_unnamed_shards(&self, index: &Index) -> Result<()> {
        fs::check_path(&self.dir.join(shard::SHARD_DIR), fs::Kind::Dir)?;
        for p in self.unnamed_shards(index) {
            std::fs::remove_file(&p)
                .map_err(|e| Error::io("remove a shard file the index no longer names", &p, e))?;
        }
        Ok(())
    }

    /// The files of `index.d/` that `index` (read from this store) does not name.
    fn unnamed_shards(&self, index: &Index) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.dir.join(shard::SHARD_DIR)) else {
            return Vec::new();
        };
        let named: std::collections::HashSet<PathBuf> = index
            .layout
            .iter()
            .flat_map(|l| l.files())
            .map(|rel| self.path(&rel))
            .collect();
        rd.flatten()
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| e.path())
            .filter(|p| !named.contains(p))
            .collect()
    }

    /// Whether a run stopped before it could tidy up, as far as can be told
    /// without looking in every user's directory: a run that said it was
    /// writing for users (a non-empty [`INTENT_FILE`]), or files of
    /// `index.d/` that `index` does not name (a commit stopped before it
    /// removed the shards it replaced).
    pub fn leftovers(&self, index: &Index) -> bool {
        std::fs::symlink_metadata(self.dir.join(INTENT_FILE)).is_ok_and(|m| m.len() > 0)
            || !self.unnamed_shards(index).is_empty()
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

    /// The users a run killed since the last commit said it was writing
    /// for ([`INTENT_FILE`]): their directories, and the store's own
    /// ([`DirStore::temp_dirs`]), are where it can have left temporary
    /// files and orphans. Only those are looked at, not every
    /// user's directory of a store of thousands. A name that is not one
    /// (a line torn by a crash, an edit) is skipped.
    pub fn intended(&self) -> Result<Vec<String>> {
        let path = self.dir.join(INTENT_FILE);
        let text = fs::read_if_present(&path, fs::Kind::File)?.unwrap_or_default();
        let mut users: Vec<String> = String::from_utf8_lossy(&text)
            .lines()
            .filter(|u| crate::x509::names::validate_user(u).is_ok())
            .map(String::from)
            .collect();
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// The directories where a run killed since the last commit can have
    /// left temporary files: the store's own where files are written (not
    /// `users/`, which holds only directories: listing it would cost one
    /// entry per user) and those of `users` ([`DirStore::intended`]).
    pub fn temp_dirs(&self, users: &[String]) -> Vec<PathBuf> {
        let mut dirs = vec![self.dir.clone()];
        dirs.extend(
            ["ca", "crl", shard::SHARD_DIR]
                .iter()
                .map(|d| self.dir.join(d)),
        );
        dirs.extend(users.iter().map(|u| self.dir.join("users").join(u)));
        dirs
    }

    /// The users' directories changed since `index.json` was last written:
    /// where anything a run left without saying so ([`INTENT_FILE`] came
    /// with this version; a file put there by hand) can be. A temporary
    /// file or orphan is made only under the lock, by a run that commits
    /// after it or is stopped before: so one left behind is newer than the
    /// index. One stat per user: looked at only by a run that reads the
    /// whole index anyway.
    fn changed_user_dirs(&self) -> Vec<PathBuf> {
        let committed = std::fs::symlink_metadata(self.dir.join(INDEX_FILE))
            .and_then(|m| m.modified())
            .ok();
        self.user_dirs()
            .into_iter()
            .filter(|d| {
                let Ok(m) = std::fs::symlink_metadata(d) else {
                    return false;
                };
                match (committed, m.modified()) {
                    (Some(c), Ok(t)) => t >= c,
                    _ => true,
                }
            })
            .collect()
    }

    /// Say, before a file is made in `users/<user>/`, that this run writes
    /// there: appended to [`INTENT_FILE`] and synced, once per user and run.
    pub fn intend<'u>(&self, users: impl IntoIterator<Item = &'u str>) -> Result<()> {
        let mut said = self.intent.lock().unwrap_or_else(|e| e.into_inner());
        let mut new: Vec<&str> = users.into_iter().filter(|u| !said.contains(*u)).collect();
        new.sort_unstable();
        new.dedup();
        if new.is_empty() {
            return Ok(());
        }
        let mut text = new.join("\n");
        text.push('\n');
        fs::append(&self.dir.join(INTENT_FILE), text.as_bytes(), SECRET_MODE)?;
        said.extend(new.into_iter().map(String::from));
        Ok(())
    }

    /// Forget what [`DirStore::intend`] said: the run committed, or the
    /// leftovers it named were removed. Not synced: an intent that comes
    /// back after a crash only makes the next run look once more.
    pub fn clear_intent(&self) -> Result<()> {
        let path = self.dir.join(INTENT_FILE);
        let mut said = self.intent.lock().unwrap_or_else(|e| e.into_inner());
        if fs::clear(&path)? {
            crate::ui::trace(format!("emptied {}", path.display()));
        }
        said.clear();
        Ok(())
    }

    /// The key and certificate files in `dirs` (user directories, as
    /// `users/<user>`) that `index` does not name, relative to the store:
    /// what a batch killed (SIGINT, a crash) or failed before its commit
    /// wrote. Their certificates were never current and their keys never
    /// left the store.
    pub fn orphans_in(&self, index: &Index, dirs: &[PathBuf]) -> Vec<PathBuf> {
        let users = self.dir.join("users");
        let mut out = Vec::new();
        // Only the directories of users whose entries `index` holds (one
        // read in shards may not hold everyone's): anything else is no
        // orphan of its.
        let held = |d: &&PathBuf| {
            d.file_name()
                .is_some_and(|u| index.holds_user(&u.to_string_lossy()))
        };
        for dir in dirs
            .iter()
            .filter(|d| d.parent() == Some(users.as_path()))
            .filter(held)
        {
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
    /// the user directories it said it wrote into (see
    /// [`DirStore::intended`]). Only under the store lock, with `index` as
    /// read under it: no other pki is writing.
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
        let user = user_of(rel);
        if let Some(user) = user.filter(|u| !index.holds_user(u)) {
            return Err(shard::fault(&format!(
                "a file of user {user}, whose entries were not read, was written"
            )));
        }
        self.ensure_parent(rel)?;
        // Said once the directory is known to be the store's own, before
        // anything is made in it.
        if let Some(user) = user {
            self.intend([user])?;
        }
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
    /// finished ([`audit::recover`]). Returns the lock and the users an
    /// interrupted run wrote for ([`DirStore::intended`]: where orphans can be).
    pub fn lock(&self, wait: bool, now: OffsetDateTime) -> Result<(fs::Lock, Vec<String>)> {
        let lock = fs::Lock::acquire(&self.dir, wait)?;
        // What an interrupted run may have left is in the directories it
        // said it was writing into.
        let users = self.intended()?;
        fs::remove_temp_files(self.temp_dirs(&users))?;
        audit::recover(self, now)?;
        Ok((lock, users))
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
    /// is none yet; with `users`, their entries: [`DirStore::read_index_for`]),
    /// with the orphans of an interrupted run removed from the directories
    /// of the users it wrote for (`intended`), and the shard files no
    /// index names.
    pub fn begin(
        &self,
        create: bool,
        intended: &[String],
        users: Option<&[String]>,
    ) -> Result<Index> {
        let index = if create && !self.exists() {
            Index::new()
        } else {
            // The entries of the users an interrupted run wrote for too,
            // to tell their orphans from their files.
            let users = users.map(|u| [u, intended].concat());
            self.read_index_for(users.as_deref())?
        };
        let mut dirs = self.temp_dirs(intended);
        if !index.layout.as_ref().is_some_and(shard::Layout::partial) {
            let changed = self.changed_user_dirs();
            fs::remove_temp_files(changed.iter().cloned())?;
            dirs.extend(changed);
        }
        dirs.sort();
        dirs.dedup();
        self.remove_orphans(&index, &dirs)?;
        self.remove_unnamed_shards(&index)?;
        if !intended.is_empty() {
            self.clear_intent()?;
        }
        Ok(index)
    }

    /// Write `index` (`before`: as read under the lock, so that only the
    /// shards whose entries changed are written) and append `entries` as one commit
    /// (docs/store.md): the chained lines go to the pending journal first,
    /// then the index is replaced (the commit point: `committed` is called),
    /// then the lines are appended and the journal removed. A failure
    /// before the commit point changes nothing; one after it says "the
    /// change was made", and the next run holding the lock appends what is
    /// still pending ([`audit::recover`]).
    pub fn commit(
        &self,
        index: &Index,
        before: &Index,
        entries: &[audit::Entry],
        committed: impl FnOnce(),
    ) -> Result<()> {
        let encoded = shard::encode(index, Some(before))?;
        self.write_shards(&encoded.shards)?;
        let text = encoded.index.as_str();
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
        self.remove_replaced(&encoded.replaced);
        // Committed: the files written are named, none is an orphan. A
        // failure to say so only makes the next run look again.
        let _ = self.clear_intent();
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
        index: &Index,
        log: &[audit::Entry],
        committed: impl FnOnce(),
    ) -> Result<()> {
        // Laid out anew: how the source store held it says nothing here.
        let index = Index {
            layout: None,
            ..index.clone()
        };
        let encoded = shard::encode(&index, None)?;
        self.write_shards(&encoded.shards)?;
        let path = audit::log_path(&self.dir);
        fs::write_atomic(
            &path,
            audit::lines(log).as_bytes(),
            SECRET_MODE,
            Replace::Allow,
        )?;
        audit::remove_pending(&self.dir)?;
        self.write_index_text(&encoded.index)?;
        committed();
        self.remove_replaced(&encoded.replaced);
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

/// The user whose directory holds `rel` (`users/<user>/<file>`).
fn user_of(rel: &Path) -> Option<&str> {
    let mut parts = rel.components();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(u), Some(name), Some(_), None) if u.as_os_str() == "users" => {
            name.as_os_str().to_str()
        }
        _ => None,
    }
}
