//! The one write path for everything `pki` puts on disk.
//!
//! Files are written to a temporary file in the destination directory,
//! given their final mode explicitly (never left to the umask), synced,
//! then renamed into place, and the directory is synced. A reader or a
//! crash sees the old file or the new one, never a part of either.
//! Secret files get 0600 and directories 0700, whatever the caller's umask.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

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

/// Create `dir` (and missing parents) and force it to 0700.
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

/// Write `data` to `path` atomically with `mode`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32, replace: Replace) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if replace == Replace::Never && fs::symlink_metadata(path).is_ok() {
        return Err(exists(path));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    // Mode first, before any byte is written: tempfile creates 0600, but
    // say so explicitly rather than rely on it.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions on", tmp.path(), e))?;
    tmp.write_all(data)
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("sync", tmp.path(), e))?;
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
    sync_dir(dir)
}

fn exists(path: &Path) -> Error {
    Error::refused(
        format!("{} already exists", path.display()),
        "pass --force to replace it, or choose another destination",
    )
}

/// Append `data` to `path` (created with `mode` if missing; the mode is
/// forced either way) with O_APPEND in one write, then fsync: the audit log.
pub fn append(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let created = fs::symlink_metadata(path).is_err();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io("open for appending", path, e))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions on", path, e))?;
    f.write_all(data)
        .map_err(|e| Error::io("append to", path, e))?;
    f.sync_all().map_err(|e| Error::io("sync", path, e))?;
    if created {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(dir)?;
        }
    }
    Ok(())
}

/// fsync a directory so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Read a whole input file given by the user, `-` meaning stdin; errors are exit 2.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut v = Vec::new();
        return std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
            .map(|_| v)
            .map_err(|source| Error::Read {
                path: "stdin".into(),
                source,
            });
    }
    fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
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
    pub fn acquire(store: &Path, wait: bool) -> Result<Lock> {
        let path = store.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(SECRET_MODE)
            .open(&path)
            .map_err(|e| Error::io("open the lock file", &path, e))?;
        file.set_permissions(fs::Permissions::from_mode(SECRET_MODE))
            .map_err(|e| Error::io("set permissions on", &path, e))?;
        if wait {
            file.lock().map_err(|e| Error::io("lock", &path, e))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        dir: store.to_path_buf(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
        Ok(Lock { _file: file })
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
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let first = Lock::acquire(d.path(), false).unwrap();
        assert_eq!(Lock::acquire(d.path(), false).err().unwrap().code(), 4);
        drop(first);
        Lock::acquire(d.path(), false).unwrap();
    }
}
