//! The one write path for everything `pki` puts on disk.
//!
//! Files are written to a temporary file in the destination directory,
//! given their final mode explicitly (never left to the umask), synced,
//! then renamed into place, and the directory is synced. A reader or a
//! crash sees the old file or the new one, never a part of either.
//! Secret files get 0600 and directories 0700, whatever the caller's umask.
//!
//! Inside the store nothing is trusted that is not private to the user who
//! runs pki: every directory and file pki reads or writes there must be
//! owned by that (effective) uid, not writable by its group or others, and
//! not a symbolic link. Paths are checked with `lstat`, files opened with
//! `O_NOFOLLOW` and directories with `O_DIRECTORY|O_NOFOLLOW`, and what was
//! opened is checked again (`fstat`) before it is read or its mode is set,
//! so a link planted in the store is refused, never followed, and pki never
//! changes the mode of a link's target. Once the store directory itself is
//! ours and writable by nobody else, only we (or root) can change what is
//! inside it, so checking each path before use is enough.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Private keys and the index: owner read/write only.
pub const SECRET_MODE: u32 = 0o600;
/// Certificates are public, but live inside 0700 directories anyway.
pub const PUBLIC_MODE: u32 = 0o644;
/// Store directories: owner only.
pub const DIR_MODE: u32 = 0o700;

/// What to do when the destination exists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Replace {
    /// Refuse (exit 4) if the file exists.
    Never,
    /// Replace it atomically.
    Allow,
}

/// The prefix of every temporary file pki writes (and removes when stale).
pub const TEMP_PREFIX: &str = ".tmp-";

/// The effective uid of this process: the one owner a store may have.
pub fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// What a path of the store must be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dir,
    File,
    /// Whatever it is (the caller reports a wrong kind itself).
    Any,
}

/// Why `path` (whose `lstat` is `m`) cannot be trusted as part of a
/// store, as an exit-2 error naming the path and the fix; None when it can.
pub fn untrusted(path: &Path, m: &fs::Metadata, kind: Kind) -> Option<Error> {
    let p = path.display();
    if m.file_type().is_symlink() {
        return Some(Error::input(
            format!(
                "{p} is a symbolic link, and nothing in a pki store may be one \
                 (a link lets whoever made it choose where keys are read and written)"
            ),
            "put the real file or directory in its place, or restore the store from a backup, then run pki again",
        ));
    }
    match kind {
        Kind::Dir if !m.is_dir() => {
            return Some(Error::input(
                format!("{p} exists and is not a directory"),
                "choose another --dir, or move that file away",
            ))
        }
        Kind::File if !m.is_file() => {
            return Some(Error::input(
                format!("{p} is not a regular file"),
                "restore the store from a backup",
            ))
        }
        _ => {}
    }
    let me = my_uid();
    if m.uid() != me {
        return Some(Error::input(
            format!("{p} is owned by uid {}, not by uid {me} that runs pki", m.uid()),
            format!(
                "a store must belong to one user: `chown {me} {p}` if the store is yours, or run pki as uid {}",
                m.uid()
            ),
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Some(Error::input(
            format!(
                "{p} is writable by its group or others (mode {:04o}), so they could have changed what pki trusts",
                m.mode() & 0o7777
            ),
            format!("`chmod go-w {p}`, then check the store with `pki verify`"),
        ));
    }
    None
}

/// Check one path of the store without following it; Ok(false) when it
/// does not exist.
pub fn check_path(path: &Path, kind: Kind) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) => untrusted(path, &m, kind).map_or(Ok(true), Err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("look at", path, e)),
    }
}

fn nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Why an `open` with O_NOFOLLOW failed: a link is refused as untrusted.
fn open_error(
    path: &Path,
    e: std::io::Error,
    kind: Kind,
) -> std::result::Result<Error, std::io::Error> {
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        if let Ok(m) = fs::symlink_metadata(path) {
            if let Some(err) = untrusted(path, &m, kind) {
                return Ok(err);
            }
        }
    }
    Err(e)
}

/// Open a file of the store for reading without following a link, and
/// check what was opened. `Err(Ok(e))` is a refusal, `Err(Err(io))` the
/// I/O error for the caller to word.
pub fn open_private(
    path: &Path,
    kind: Kind,
) -> std::result::Result<File, std::result::Result<Error, std::io::Error>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(path)
        .map_err(|e| open_error(path, e, kind))?;
    let m = f.metadata().map_err(Err)?;
    match untrusted(path, &m, kind) {
        Some(e) => Err(Ok(e)),
        None => Ok(f),
    }
}

/// Read a whole file of the store (see [`open_private`]).
pub fn read_private(
    path: &Path,
    kind: Kind,
) -> std::result::Result<Vec<u8>, std::result::Result<Error, std::io::Error>> {
    let mut v = Vec::new();
    read_private_into(path, kind, &mut v)?;
    Ok(v)
}

/// [`read_private`] into `buf` (emptied first), which many reads can share.
pub fn read_private_into(
    path: &Path,
    kind: Kind,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), std::result::Result<Error, std::io::Error>> {
    let mut f = open_private(path, kind)?;
    buf.clear();
    f.read_to_end(buf).map_err(Err)?;
    Ok(())
}

/// Read a whole file of the store that may be missing (None): a refusal
/// ([`open_private`]) or another I/O error is an error.
pub fn read_if_present(path: &Path, kind: Kind) -> Result<Option<Vec<u8>>> {
    match read_private(path, kind) {
        Ok(b) => Ok(Some(b)),
        Err(Ok(refusal)) => Err(refusal),
        Err(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(Err(e)) => Err(Error::io("read", path, e)),
    }
}

/// Create a directory of the store (and missing parents) 0700, or check
/// an existing one (refusing a link, another owner, group or world write
/// access) and force it to 0700. The mode is set on the directory opened
/// with O_DIRECTORY|O_NOFOLLOW, never through a link.
pub fn store_dir(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) => {
            if let Some(e) = untrusted(dir, &m, Kind::Dir) {
                return Err(e);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, e))?,
        Err(e) => return Err(Error::io("look at", dir, e)),
    }
    let flags = nofollow() | rustix::fs::OFlags::DIRECTORY.bits() as i32;
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(dir)
        .map_err(|e| match open_error(dir, e, Kind::Dir) {
            Ok(err) => err,
            Err(e) => Error::io("open directory", dir, e),
        })?;
    let m = d.metadata().map_err(|e| Error::io("look at", dir, e))?;
    if let Some(e) = untrusted(dir, &m, Kind::Dir) {
        return Err(e);
    }
    if m.mode() & 0o777 != DIR_MODE {
        d.set_permissions(fs::Permissions::from_mode(DIR_MODE))
            .map_err(|e| Error::io("set permissions on", dir, e))?;
    }
    Ok(())
}

/// Remove every stale temporary file (`.tmp-*`, left by a run that was
/// killed while writing) in `dirs`. Only for a caller holding the store
/// lock: then no other pki is writing there.
pub fn remove_temp_files(dirs: impl IntoIterator<Item = PathBuf>) -> Result<()> {
    for dir in dirs {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && e.file_type().is_ok_and(|t| !t.is_dir())
            {
                let p = e.path();
                fs::remove_file(&p)
                    .map_err(|err| Error::io("remove the stale temporary file", &p, err))?;
            }
        }
    }
    Ok(())
}

/// The directory an output file would go into, when it does not exist
/// (a bare file name goes into `.`): checked before a command changes
/// anything, so that a mistyped path changes nothing.
pub fn missing_parent(path: &Path) -> Option<&Path> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    (!dir.is_dir()).then_some(dir)
}

/// Create `dir` (and missing parents) and force it to 0700: for output
/// directories outside the store (`export files --out`).
pub fn private_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::input(
                format!("{} exists and is not a directory", dir.display()),
                "choose another --dir, or move that file away",
            ))
        }
        Err(_) => fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, e))?,
    }
    set_mode(dir, DIR_MODE)
}

pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions on", path, e))
}

/// Write `data` to `path` atomically with `mode`, durable (the file, then
/// its directory, synced) before it returns.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32, replace: Replace) -> Result<()> {
    write_atomic_in(path, data, mode, replace, None)
}

/// [`write_atomic`]; with a `batch`, neither the file nor its directory is
/// synced here: the file is durable only once [`Batch::sync`] has
/// returned, which must come before anything (the index) names it.
pub fn write_atomic_in(
    path: &Path,
    data: &[u8],
    mode: u32,
    replace: Replace,
    batch: Option<&mut Batch>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if replace == Replace::Never && fs::symlink_metadata(path).is_ok() {
        return Err(exists(path));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    // Mode first, before any byte is written: tempfile creates 0600, but
    // say so explicitly rather than rely on it.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions on", tmp.path(), e))?;
    tmp.write_all(data)
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    // A file on another file system than the store's (a mount inside the
    // store) is not the batch's to sync: it is synced here.
    let batch = batch.filter(|b| b.covers(tmp.as_file()));
    if batch.is_none() {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync", tmp.path(), e))?;
    }
    match replace {
        Replace::Allow => tmp
            .persist(path)
            .map(drop)
            .map_err(|e| Error::io("rename into", path, e.error))?,
        Replace::Never => tmp.persist_noclobber(path).map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                exists(path)
            } else {
                Error::io("rename into", path, e.error)
            }
        })?,
    }
    match batch {
        None => sync_dir(dir),
        Some(b) => {
            b.written.push(path.to_path_buf());
            Ok(())
        }
    }
}

/// The files of one batch (the keys and certificates of `pki issue u1 ...
/// u100`, of a rotation), written with [`write_atomic_in`] without a sync
/// each, then made durable together by [`Batch::sync`], before the index
/// that names them is written. Four fsyncs per user (file and directory,
/// key and certificate) become one `syncfs` per batch. A crash before the
/// sync leaves files no index names (orphans, removed by the next run that
/// changes the store) or temporary files; after it, every file and its
/// directory entry is on disk.
pub struct Batch {
    /// The store directory, opened when the batch starts: `syncfs` reports
    /// a write-back error of the file system that happened since (Linux 5.8
    /// and later), so an error while the batch was written is not missed.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    store: File,
    /// Its file system (`st_dev`): what one `syncfs` covers.
    dev: u64,
    path: PathBuf,
    /// Every file written, for the platforms without `syncfs`.
    written: Vec<PathBuf>,
}

impl Batch {
    /// Start a batch of writes into the store at `store`.
    pub fn start(store: &Path) -> Result<Batch> {
        let flags = nofollow() | rustix::fs::OFlags::DIRECTORY.bits() as i32;
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(store)
            .map_err(|e| Error::io("open directory", store, e))?;
        let dev = dir
            .metadata()
            .map_err(|e| Error::io("look at", store, e))?
            .dev();
        Ok(Batch {
            store: dir,
            dev,
            path: store.to_path_buf(),
            written: Vec::new(),
        })
    }

    /// Whether `file` is on the store's file system, which [`Batch::sync`]
    /// syncs (with no `syncfs`, every file is synced by its path).
    fn covers(&self, file: &File) -> bool {
        cfg!(not(target_os = "linux")) || file.metadata().is_ok_and(|m| m.dev() == self.dev)
    }

    /// Make every file of the batch durable, with the renames and
    /// directories that name it: one `syncfs` of the store's file system on
    /// Linux (every dirty page of it, ours among them, is written and the
    /// disk's cache flushed; a write-back error since [`Batch::start`]
    /// fails it), elsewhere an fsync of each file and of each directory
    /// the batch wrote into, and theirs. A failure changes nothing: the
    /// index does not name these files yet.
    pub fn sync(self) -> Result<()> {
        if self.written.is_empty() {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        rustix::fs::syncfs(&self.store)
            .map_err(|e| Error::io("sync the file system of", &self.path, e.into()))?;
        #[cfg(not(target_os = "linux"))]
        {
            let mut dirs = std::collections::BTreeSet::new();
            for f in &self.written {
                File::open(f)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| Error::io("sync", f, e))?;
                dirs.extend(f.ancestors().skip(1).take(2).map(Path::to_path_buf));
            }
            for d in dirs.iter().rev() {
                sync_dir(d)?;
            }
        }
        crate::ui::trace(format!(
            "synced the {} file(s) of the batch under {} at once: durable before the index names them",
            self.written.len(),
            self.path.display()
        ));
        Ok(())
    }
}

fn exists(path: &Path) -> Error {
    Error::Exists {
        path: path.to_path_buf(),
        instead: "destination",
    }
}

/// Append `data` to `path` (created with `mode` if missing; the mode is
/// forced either way) with O_APPEND in one write, then fsync: the audit log.
/// A write that fails part way (a full disk) is cut back off, so the file
/// ends where it did; only a crash mid-write leaves a torn last line.
pub fn append(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let created = fs::symlink_metadata(path).is_err();
    let mut f = open_store_file(
        OpenOptions::new().create(true).append(true).mode(mode),
        path,
        "open for appending",
    )?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions on", path, e))?;
    let before = f
        .metadata()
        .map_err(|e| Error::io("look at", path, e))?
        .len();
    if let Err(e) = f.write_all(data).and_then(|_| f.sync_all()) {
        // Best effort: a file that cannot be cut back keeps a torn line,
        // which the next run holding the lock removes.
        let _ = f.set_len(before).and_then(|_| f.sync_all());
        return Err(Error::io("append to", path, e));
    }
    if created {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(dir)?;
        }
    }
    Ok(())
}

/// Empty a file of the store, not synced; a missing one is left missing.
/// Whether there was anything to empty.
pub fn clear(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.len() > 0 => {}
        _ => return Ok(false),
    }
    let f = open_store_file(OpenOptions::new().write(true), path, "open to empty")?;
    f.set_len(0).map_err(|e| Error::io("empty", path, e))?;
    Ok(true)
}

/// Cut a file of the store back to `len` bytes (a torn last line), then fsync.
pub fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = open_store_file(OpenOptions::new().write(true), path, "open for repair")?;
    f.set_len(len)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("truncate", path, e))
}

/// Open (maybe create) a file of the store for writing with `opts`, never
/// through a link, and check what was opened before anything is written
/// or its mode set.
fn open_store_file(opts: &mut OpenOptions, path: &Path, what: &str) -> Result<File> {
    let f = opts.custom_flags(nofollow()).open(path).map_err(|e| {
        match open_error(path, e, Kind::File) {
            Ok(err) => err,
            Err(e) => Error::io(what, path, e),
        }
    })?;
    let m = f.metadata().map_err(|e| Error::io("look at", path, e))?;
    match untrusted(path, &m, Kind::File) {
        Some(e) => Err(e),
        None => Ok(f),
    }
}

/// fsync a directory so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// The largest input file pki reads (`--csr`, `--cert`, `--key`,
/// `--merge`, `--from`, a passphrase file, a Marathon config): 1 MiB. A
/// certificate, a key or a Marathon app definition is a few KiB, a user
/// list of 50,000 names fits; a larger file is a mistake (or an attack on
/// memory) and is refused before it is read whole.
pub const INPUT_CAP: u64 = 1 << 20;

/// Read a whole input file given by the user, `-` meaning stdin; errors are
/// exit 2. At most [`INPUT_CAP`] bytes: one more is read to tell a file of
/// exactly the cap from a larger one, never the rest.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let (name, source): (PathBuf, Box<dyn Read>) = if path.as_os_str() == "-" {
        ("stdin".into(), Box::new(std::io::stdin()))
    } else {
        let f = fs::File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        (path.to_path_buf(), Box::new(f))
    };
    let mut v = Vec::new();
    source
        .take(INPUT_CAP + 1)
        .read_to_end(&mut v)
        .map_err(|source| Error::Read {
            path: name.clone(),
            source,
        })?;
    if v.len() as u64 > INPUT_CAP {
        return Err(Error::input(
            format!(
                "{} is larger than {} KiB, more than any input pki takes",
                name.display(),
                INPUT_CAP / 1024
            ),
            "check that it is the file you meant (a certificate, key, CSR or app definition is a few KiB)",
        ));
    }
    Ok(v)
}

/// Read a user-given input file as UTF-8 text.
pub fn read_input_text(path: &Path) -> Result<String> {
    String::from_utf8(read_input(path)?).map_err(|_| {
        Error::input(
            format!("{} is not text", path.display()),
            "give a PEM or JSON text file, not DER or binary",
        )
    })
}

/// An exclusive advisory lock on `<store>/.lock`, held until dropped.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the store lock; without `wait`, refuse (exit 4) when it is held.
    /// With `wait`, say once (on stderr) that it waits and for whom. The
    /// holder writes its pid, host and command line into the lock file; it is
    /// opened without following a symbolic link, so a link planted there
    /// cannot make pki write elsewhere.
    pub fn acquire(store: &Path, wait: bool) -> Result<Lock> {
        let path = store.join(super::LOCK_FILE);
        let mut file = open_store_file(
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .mode(SECRET_MODE),
            &path,
            "open the lock file",
        )?;
        file.set_permissions(fs::Permissions::from_mode(SECRET_MODE))
            .map_err(|e| Error::io("set permissions on", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) if wait => {
                crate::ui::notice(format!(
                    "waiting for the store lock of {}, held by {}",
                    store.display(),
                    holder(&mut file)
                ));
                file.lock().map_err(|e| Error::io("lock", &path, e))?;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    dir: store.to_path_buf(),
                    holder: holder(&mut file),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        // Who holds it now: for a waiter's message.
        let me: Vec<String> = std::env::args()
            .enumerate()
            .map(|(i, a)| if i == 0 { "pki".to_string() } else { a })
            .collect();
        let host = rustix::system::uname();
        let record = format!(
            "pid {} on {} ({})\n",
            std::process::id(),
            host.nodename().to_string_lossy(),
            me.join(" ")
        );
        file.set_len(0)
            .and_then(|_| file.seek(std::io::SeekFrom::Start(0)))
            .and_then(|_| file.write_all(record.as_bytes()))
            .map_err(|e| Error::io("write", &path, e))?;
        crate::ui::trace(format!(
            "locked {} as {}",
            path.display(),
            record.trim_end()
        ));
        Ok(Lock { _file: file })
    }
}

impl Drop for Lock {
    /// Forget the holder while still holding the lock: a lock file names
    /// only a live holder, and a store after a refused command is byte for
    /// byte what it was.
    fn drop(&mut self) {
        let _ = self._file.set_len(0);
    }
}

/// What the lock file says of its holder, for one line: "pid 4242 on
/// host-1 (pki rotate)" (another host sharing the store's file system shows
/// as such).
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(std::io::SeekFrom::Start(0))
        .and_then(|_| std::io::Read::take(&mut *file, 512).read_to_string(&mut text));
    let line: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if line.is_empty() {
        "another pki".to_string()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writes_with_the_mode_asked_and_refuses_to_clobber() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        write_atomic(&p, b"one", SECRET_MODE, Replace::Never).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let e = write_atomic(&p, b"two", SECRET_MODE, Replace::Never).unwrap_err();
        assert_eq!(e.code(), 4);
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"two", PUBLIC_MODE, Replace::Allow).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o644);
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_batch_writes_whole_files_and_syncs_them_at_once() {
        let d = tempfile::tempdir().unwrap();
        let mut batch = Batch::start(d.path()).unwrap();
        for i in 0..3 {
            let p = d.path().join(format!("f{i}"));
            write_atomic_in(&p, b"data", SECRET_MODE, Replace::Never, Some(&mut batch)).unwrap();
        }
        let again = write_atomic_in(
            &d.path().join("f0"),
            b"other",
            SECRET_MODE,
            Replace::Never,
            Some(&mut batch),
        );
        assert_eq!(again.unwrap_err().code(), 4);
        assert_eq!(batch.written.len(), 3);
        // A file on another file system is not the batch's to sync.
        if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
            let f = File::create(shm.path().join("x")).unwrap();
            let elsewhere = f.metadata().unwrap().dev() != batch.dev;
            assert_eq!(
                batch.covers(&f),
                !elsewhere || cfg!(not(target_os = "linux"))
            );
        }
        batch.sync().unwrap();
        for i in 0..3 {
            let p = d.path().join(format!("f{i}"));
            assert_eq!(fs::read(&p).unwrap(), b"data");
            assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        }
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            3,
            "no temporary file"
        );
    }

    #[test]
    fn private_dir_is_0700_and_refuses_a_file() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        private_dir(&sub).unwrap();
        assert_eq!(fs::metadata(&sub).unwrap().mode() & 0o777, 0o700);
        let f = d.path().join("f");
        fs::write(&f, b"").unwrap();
        assert_eq!(private_dir(&f).unwrap_err().code(), 2);
    }

    #[test]
    fn links_and_loose_modes_are_refused_and_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
        let link = d.path().join("store");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = store_dir(&link).unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o755);
        // A linked lock file or log is refused, its target left alone.
        let file = d.path().join("file");
        fs::write(&file, b"x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let real = d.path().join("real");
        fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&file, real.join(".lock")).unwrap();
        assert_eq!(Lock::acquire(&real, false).err().unwrap().code(), 2);
        std::os::unix::fs::symlink(&file, real.join("log")).unwrap();
        assert_eq!(
            append(&real.join("log"), b"y", SECRET_MODE)
                .unwrap_err()
                .code(),
            2
        );
        assert!(matches!(
            open_private(&real.join("log"), Kind::File),
            Err(Ok(_))
        ));
        assert_eq!(fs::read(&file).unwrap(), b"x");
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o644);
        // Writable by others: refused with the chmod that fixes it.
        fs::set_permissions(&target, fs::Permissions::from_mode(0o777)).unwrap();
        let e = store_dir(&target).unwrap_err();
        assert!(e.to_string().contains("chmod go-w"), "{e}");
        // A private directory passes and is made 0700.
        fs::set_permissions(&target, fs::Permissions::from_mode(0o750)).unwrap();
        store_dir(&target).unwrap();
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let first = Lock::acquire(d.path(), false).unwrap();
        assert_eq!(Lock::acquire(d.path(), false).err().unwrap().code(), 4);
        drop(first);
        Lock::acquire(d.path(), false).unwrap();
    }
}
