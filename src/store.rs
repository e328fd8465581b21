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

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::certinfo::CertInfo;
use crate::error::{Error, Result};
use crate::fsutil::{self, Replace, PUBLIC_MODE, SECRET_MODE};
use crate::keys::{KeyFormat, KeyType, PrivateKey};
use crate::profile::Signer;

/// The index format this build reads and writes.
pub const INDEX_FORMAT: u32 = 1;
pub const INDEX_FILE: &str = "index.json";

/// `index.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: u32,
    /// The current root CA.
    pub ca: Option<CaEntry>,
    /// Earlier root CAs, oldest first.
    #[serde(default)]
    pub ca_history: Vec<CaEntry>,
    /// Every certificate issued, current and superseded.
    #[serde(default)]
    pub certificates: Vec<CertEntry>,
    #[serde(default)]
    pub settings: Settings,
    /// CRL bookkeeping (`pki crl`): absent until the first CRL is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlRecord>,
}

/// The last CRL made by `pki crl`. Its number only grows (RFC 5280 5.2.3).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlRecord {
    pub number: u64,
    /// Serial of the CA that signed it.
    pub ca_serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// Path relative to the store.
    pub path: PathBuf,
}

/// Store-wide settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// CRL distribution point put into every certificate issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_url: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaEntry {
    pub subject: String,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub key_type: KeyType,
    pub fingerprint_sha256: String,
    /// Paths relative to the store.
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The key file is encrypted PKCS#8 (`init --encrypt`): signing needs a passphrase.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertState {
    /// The user's current certificate.
    Active,
    /// Replaced by a newer certificate for the same user.
    Superseded,
    /// Revoked; not exported.
    Revoked,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertEntry {
    pub user: String,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub key_type: KeyType,
    pub fingerprint_sha256: String,
    pub state: CertState,
    /// Serial of the CA that signed it.
    pub ca_serial: String,
    pub cert: PathBuf,
    /// None when the key never entered the store (a signed CSR).
    pub key: Option<PathBuf>,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When it was revoked (`pki revoke`); None unless `state` is revoked.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub revoked_at: Option<OffsetDateTime>,
    /// The CRL reason code name given to `pki revoke --reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<String>,
}

impl CertEntry {
    pub fn from_info(
        user: &str,
        info: &CertInfo,
        ca_serial: &str,
        cert: PathBuf,
        key: Option<PathBuf>,
        now: OffsetDateTime,
    ) -> Result<Self> {
        Ok(CertEntry {
            user: user.to_string(),
            serial: info.serial.clone(),
            not_before: info.not_before,
            not_after: info.not_after,
            key_type: info.key_type.ok_or_else(|| {
                Error::input(
                    format!("the certificate for {user} has a key type pki does not support"),
                    "use RSA, ECDSA P-256/P-384 or Ed25519",
                )
            })?,
            fingerprint_sha256: info.fingerprint_sha256.clone(),
            state: CertState::Active,
            ca_serial: ca_serial.to_string(),
            cert,
            key,
            issued_at: now,
            revoked_at: None,
            revocation_reason: None,
        })
    }
}

impl CaEntry {
    pub fn from_info(
        info: &CertInfo,
        cert: PathBuf,
        key: PathBuf,
        now: OffsetDateTime,
    ) -> Result<Self> {
        Ok(CaEntry {
            subject: info.subject.clone(),
            serial: info.serial.clone(),
            not_before: info.not_before,
            not_after: info.not_after,
            key_type: info.key_type.ok_or_else(|| {
                Error::input(
                    "the CA certificate has a key type pki does not support",
                    "use RSA, ECDSA P-256/P-384 or Ed25519",
                )
            })?,
            fingerprint_sha256: info.fingerprint_sha256.clone(),
            cert,
            key,
            created_at: now,
            encrypted: false,
        })
    }
}

impl Index {
    pub fn new() -> Self {
        Index {
            format: INDEX_FORMAT,
            ..Default::default()
        }
    }

    /// The current root CA, or an error that says to run `pki init`.
    pub fn ca(&self, store: &Store) -> Result<&CaEntry> {
        self.ca.as_ref().ok_or_else(|| Error::NoStore {
            dir: store.dir.clone(),
        })
    }

    /// The user's current (active) certificate.
    pub fn active(&self, user: &str) -> Option<&CertEntry> {
        self.certificates
            .iter()
            .rev()
            .find(|c| c.user == user && c.state == CertState::Active)
    }

    /// Every user's current certificate, in index order.
    pub fn active_all(&self) -> impl Iterator<Item = &CertEntry> {
        self.certificates
            .iter()
            .filter(|c| c.state == CertState::Active)
    }

    /// The newest certificate per user that is active or revoked: what `list` shows.
    pub fn current(&self) -> Vec<&CertEntry> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<&CertEntry> = self
            .certificates
            .iter()
            .rev()
            .filter(|c| c.state != CertState::Superseded && seen.insert(c.user.as_str()))
            .collect();
        out.reverse();
        out
    }

    /// Mark the user's active certificate superseded; returns its serial.
    pub fn supersede(&mut self, user: &str) -> Option<String> {
        let e = self
            .certificates
            .iter_mut()
            .rev()
            .find(|c| c.user == user && c.state == CertState::Active)?;
        e.state = CertState::Superseded;
        Some(e.serial.clone())
    }

    /// Make `ca` the current CA. An earlier CA moves to `ca_history` and
    /// every active certificate becomes superseded (users must be issued
    /// anew under the new CA); returns how many were.
    pub fn replace_ca(&mut self, ca: CaEntry) -> usize {
        let mut retired = 0;
        if let Some(old) = self.ca.replace(ca) {
            self.ca_history.push(old);
            for c in self
                .certificates
                .iter_mut()
                .filter(|c| c.state == CertState::Active)
            {
                c.state = CertState::Superseded;
                retired += 1;
            }
        }
        retired
    }

    /// Position in `certificates` of every user's active certificate, built
    /// in one pass: for batches, where `active()` per user would be O(n^2).
    pub fn active_positions(&self) -> std::collections::HashMap<String, usize> {
        let mut out = std::collections::HashMap::with_capacity(self.certificates.len());
        for (i, c) in self.certificates.iter().enumerate() {
            if c.state == CertState::Active {
                out.insert(c.user.clone(), i);
            }
        }
        out
    }

    /// Every serial in the store (certificates and CAs), built in one pass:
    /// for batches, where `serial_in_use()` per certificate would be O(n^2).
    pub fn serials(&self) -> std::collections::HashSet<String> {
        let cas = self.ca.iter().chain(&self.ca_history).map(|c| &c.serial);
        self.certificates
            .iter()
            .map(|c| &c.serial)
            .chain(cas)
            .cloned()
            .collect()
    }

    pub fn serial_in_use(&self, serial: &str) -> bool {
        self.certificates.iter().any(|c| c.serial == serial)
            || self
                .ca
                .iter()
                .chain(&self.ca_history)
                .any(|c| c.serial == serial)
    }
}

/// A store directory.
#[derive(Clone, Debug)]
pub struct Store {
    pub dir: PathBuf,
    /// Unlocks an encrypted CA key; asked only when such a key is read.
    pub passphrase: crate::secret::Passphrase,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store {
            dir: dir.into(),
            passphrase: Default::default(),
        }
    }

    /// The store, with `--passphrase-file` for an encrypted CA key.
    pub fn with_passphrase(mut self, p: crate::secret::Passphrase) -> Self {
        self.passphrase = p;
        self
    }

    pub fn path(&self, rel: &Path) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn exists(&self) -> bool {
        self.dir.join(INDEX_FILE).exists()
    }

    /// Read the index; a missing store is exit 2 with a hint to run `pki init`.
    pub fn read_index(&self) -> Result<Index> {
        let path = self.dir.join(INDEX_FILE);
        if self.dir.exists() && !self.dir.is_dir() {
            return Err(Error::input(
                format!("{} is not a directory", self.dir.display()),
                "point --dir (or PKI_DIR) at a pki store directory",
            ));
        }
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoStore {
                    dir: self.dir.clone(),
                })
            }
            Err(source) => return Err(Error::Read { path, source }),
        };
        let index: Index = serde_json::from_slice(&text).map_err(|e| {
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
        Ok(index)
    }

    /// Replace the index atomically: the single commit point of every change.
    pub fn write_index(&self, index: &Index) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(index)
            .map_err(|e| Error::crypto("cannot encode the index", e))?;
        text.push(b'\n');
        fsutil::write_atomic(
            &self.dir.join(INDEX_FILE),
            &text,
            SECRET_MODE,
            Replace::Allow,
        )
    }

    /// Take the store lock (exit 4 when held and not waiting).
    pub fn lock(&self, wait: bool) -> Result<fsutil::Lock> {
        fsutil::Lock::acquire(&self.dir, wait)
    }

    /// Write a new certificate file under the store; never replaces.
    pub fn write_cert(&self, rel: &Path, der: &[u8]) -> Result<()> {
        self.ensure_parent(rel)?;
        fsutil::write_atomic(
            &self.path(rel),
            crate::certinfo::der_to_pem(der).as_bytes(),
            PUBLIC_MODE,
            Replace::Never,
        )
    }

    /// Write a new private key file under the store, 0600; never replaces.
    pub fn write_key(&self, rel: &Path, key: &PrivateKey, format: KeyFormat) -> Result<()> {
        self.write_key_pem(rel, &key.to_pem(format)?)
    }

    /// Write a CA's key (encrypted PKCS#8 under `pass` when given, else
    /// plain in `format`) and certificate, named by serial; returns the
    /// index entry for the caller to commit.
    pub fn write_ca(
        &self,
        info: &CertInfo,
        der: &[u8],
        key: &PrivateKey,
        format: KeyFormat,
        pass: Option<&zeroize::Zeroizing<Vec<u8>>>,
        now: OffsetDateTime,
    ) -> Result<CaEntry> {
        let (cert_rel, key_rel) = Store::ca_paths(&info.serial);
        let mut entry = CaEntry::from_info(info, cert_rel.clone(), key_rel.clone(), now)?;
        match pass {
            Some(p) => self.write_key_pem(&key_rel, &crate::secret::encrypt_pem(key, p)?)?,
            None => self.write_key(&key_rel, key, format)?,
        }
        self.write_cert(&cert_rel, der)?;
        entry.encrypted = pass.is_some();
        Ok(entry)
    }

    /// Write key PEM text (plain or encrypted) under the store, 0600; never replaces.
    pub fn write_key_pem(&self, rel: &Path, pem: &str) -> Result<()> {
        self.ensure_parent(rel)?;
        fsutil::write_atomic(&self.path(rel), pem.as_bytes(), SECRET_MODE, Replace::Never)
    }

    fn ensure_parent(&self, rel: &Path) -> Result<()> {
        let mut dir = self.dir.clone();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            fsutil::private_dir(&dir)?;
        }
        Ok(())
    }

    pub fn read_text(&self, rel: &Path) -> Result<String> {
        let path = self.path(rel);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::failed(
                format!(
                    "the store names {} but it cannot be read: {}",
                    path.display(),
                    crate::error::one_line(&e)
                ),
                "restore the file from a backup, or re-issue with --force",
            )
        })?;
        String::from_utf8(bytes).map_err(|_| {
            Error::failed(
                format!("{} is not text", path.display()),
                "restore it from a backup",
            )
        })
    }

    /// Read a key file; an encrypted one is decrypted with the store's
    /// passphrase (asked for only then).
    pub fn read_key(&self, rel: &Path) -> Result<PrivateKey> {
        let text = zeroize::Zeroizing::new(self.read_text(rel)?);
        crate::secret::read_key(
            &text,
            &self.path(rel).display().to_string(),
            &self.passphrase,
        )
    }

    pub fn read_cert_der(&self, rel: &Path) -> Result<Vec<u8>> {
        crate::certinfo::pem_to_der(&self.read_text(rel)?, &self.path(rel).display().to_string())
    }

    /// The current CA, ready to sign.
    pub fn signer(&self, index: &Index) -> Result<Signer> {
        let ca = index.ca(self)?;
        Signer::new(self.read_cert_der(&ca.cert)?, self.read_key(&ca.key)?)
    }

    pub fn ca_paths(serial: &str) -> (PathBuf, PathBuf) {
        (
            PathBuf::from(format!("ca/{serial}.crt")),
            PathBuf::from(format!("ca/{serial}.key")),
        )
    }

    pub fn user_paths(user: &str, serial: &str) -> (PathBuf, PathBuf) {
        (
            PathBuf::from(format!("users/{user}/{serial}.crt")),
            PathBuf::from(format!("users/{user}/{serial}.key")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, serial: &str, state: CertState) -> CertEntry {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        CertEntry {
            user: user.into(),
            serial: serial.into(),
            not_before: t,
            not_after: t,
            key_type: KeyType::Rsa2048,
            fingerprint_sha256: String::new(),
            state,
            ca_serial: "c".into(),
            cert: "c".into(),
            key: None,
            issued_at: t,
            revoked_at: None,
            revocation_reason: None,
        }
    }

    #[test]
    fn current_is_the_newest_non_superseded_per_user() {
        let mut i = Index::new();
        i.certificates = vec![
            entry("a", "1", CertState::Superseded),
            entry("b", "2", CertState::Revoked),
            entry("a", "3", CertState::Active),
            entry("b", "4", CertState::Active),
        ];
        let cur: Vec<_> = i.current().iter().map(|c| c.serial.as_str()).collect();
        assert_eq!(cur, ["3", "4"]);
        assert_eq!(i.supersede("a").as_deref(), Some("3"));
        assert!(i.active("a").is_none());
        assert!(i.serial_in_use("1") && !i.serial_in_use("9"));
        let pos = i.active_positions();
        assert_eq!(pos.len(), 1);
        assert_eq!(i.certificates[pos["b"]].serial, "4");
        assert!(i.serials().contains("2") && !i.serials().contains("9"));
    }

    #[test]
    fn a_missing_store_says_to_run_init() {
        let d = tempfile::tempdir().unwrap();
        let e = Store::new(d.path().join("nope")).read_index().unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("pki init"));
    }
}
