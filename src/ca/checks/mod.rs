//! The checks of `pki verify`, as findings: the store's CA (its files and
//! index entry, the root-CA rules, validity, key match, modes), each
//! user's current certificate (file and index, chain to the store CA, the
//! name rules, validity not outliving the CA, clientAuth, key match,
//! modes), a certificate file given with `--cert`, and the history files.
//! The rules one certificate is held to are in [`cert`], shared with
//! `import` (the root-CA rules, the chain) and `sign` (the CA's window).
//! Nothing here prints; the command renders the findings.

pub mod cert;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ::time::OffsetDateTime;
use x509_parser::prelude::*;

use crate::error::{one_line, Result};
use crate::store::{CaEntry, CertEntry, CertState, CrlRecord, Index, Scanned, Store};
use crate::x509::cert::sha256_hex;
use crate::x509::keys::PrivateKey;

pub use cert::{ca_problem, chain_problem, check_ca_valid, vendor_warnings, Outcome};

/// Which check a finding is from; its name is the `check` of `verify --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The store directory: a path a command would refuse, a stale temporary file.
    Store,
    CaFile,
    CaSignature,
    CaConstraints,
    CaKeyUsage,
    CaValidity,
    CaKey,
    CaMode,
    /// A user's certificate file (or the `--cert` file) cannot be read.
    File,
    /// The file is the one the index names.
    Index,
    Chain,
    Name,
    Validity,
    Eku,
    Key,
    Mode,
    /// A superseded or revoked certificate's, or an earlier CA's, files.
    History,
    /// A CRL the index records: there, a CRL, signed by its CA.
    Crl,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Store => "store",
            Check::CaFile => "ca-file",
            Check::CaSignature => "ca-signature",
            Check::CaConstraints => "ca-constraints",
            Check::CaKeyUsage => "ca-key-usage",
            Check::CaValidity => "ca-validity",
            Check::CaKey => "ca-key",
            Check::CaMode => "ca-mode",
            Check::File => "file",
            Check::Index => "index",
            Check::Chain => "chain",
            Check::Name => "name",
            Check::Validity => "validity",
            Check::Eku => "eku",
            Check::Key => "key",
            Check::Mode => "mode",
            Check::History => "history",
            Check::Crl => "crl",
        }
    }

    /// Whether it is about the CA (or the CAs' and certificates' history).
    pub fn of_ca(self) -> bool {
        self.name().starts_with("ca-") || self == Check::History || self == Check::Crl
    }
}

/// One check of one certificate (or of the store): passed, saying what it
/// saw, or failed, saying what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub user: Option<String>,
    pub serial: Option<String>,
    pub check: Check,
    pub outcome: Outcome,
    /// Passed, but with something to know: what the vendor's openssl
    /// procedure makes (a v1 leaf, a leaf outliving its CA by seconds).
    pub warning: bool,
}

impl Finding {
    pub fn ok(&self) -> bool {
        self.outcome.is_ok()
    }

    pub fn message(&self) -> &str {
        match &self.outcome {
            Ok(m) | Err(m) => m,
        }
    }
}

/// The findings of [`Store::scan`].
pub fn scanned(scanned: &[Scanned]) -> Vec<Finding> {
    scanned
        .iter()
        .map(|s| Finding {
            user: None,
            serial: None,
            check: Check::Store,
            warning: false,
            outcome: if s.ok {
                Ok(s.message.clone())
            } else {
                Err(s.message.clone())
            },
        })
        .collect()
}

/// Key and certificate files of users that no index names (a batch
/// interrupted before its commit): passed with a warning, since nothing
/// uses them and the next command that changes the store removes them.
pub fn orphans(store: &Store, index: &Index) -> Vec<Finding> {
    store
        .orphans(index)
        .into_iter()
        .map(|rel| Finding {
            user: rel
                .parent()
                .and_then(Path::file_name)
                .map(|u| u.to_string_lossy().into_owned()),
            serial: None,
            check: Check::Store,
            outcome: Ok(format!(
                "{} is named by no index: an orphan of an interrupted run (never current, never exported); the next pki that changes the store removes it",
                rel.display()
            )),
            warning: true,
        })
        .collect()
}

/// The checks of one store at one instant, collecting findings.
pub struct Checker<'a> {
    pub store: &'a Store,
    pub now: OffsetDateTime,
    /// Reads a key file of the store (decrypting the CA key when it is encrypted).
    pub read_key: &'a dyn Fn(&Path) -> Result<PrivateKey>,
    pub findings: Vec<Finding>,
}

impl Checker<'_> {
    fn add(&mut self, user: Option<&str>, serial: Option<&str>, check: Check, outcome: Outcome) {
        self.findings.push(Finding {
            user: user.map(str::to_string),
            serial: serial.map(str::to_string),
            check,
            outcome,
            warning: false,
        });
    }

    /// A passed check with a warning, or `otherwise` when there is none.
    fn add_or_warn(
        &mut self,
        (user, serial): (Option<&str>, Option<&str>),
        check: Check,
        warning: Option<String>,
        otherwise: impl FnOnce() -> Outcome,
    ) {
        match warning {
            Some(w) => {
                self.add(user, serial, check, Ok(w));
                if let Some(f) = self.findings.last_mut() {
                    f.warning = true;
                }
            }
            None => self.add(user, serial, check, otherwise()),
        }
    }

    /// The CA's checks; returns its DER when it could be read, for chaining.
    pub fn ca(&mut self, ca: &CaEntry) -> Option<Vec<u8>> {
        let serial = ca.serial.to_string();
        let s = Some(serial.as_str());
        let der = match self.store.read_cert_der(&ca.cert) {
            Ok(d) => d,
            Err(e) => {
                self.add(None, s, Check::CaFile, Err(e.to_string()));
                return None;
            }
        };
        let indexed = matches_index(&der, &ca.fingerprint_sha256, &ca.cert);
        self.add(None, s, Check::CaFile, indexed);
        let Ok((_, x)) = X509Certificate::from_der(&der) else {
            let e = Err("the CA certificate does not parse".into());
            self.add(None, s, Check::CaFile, e);
            return None;
        };
        let [signature, constraints, usage] = cert::root_ca(&x).outcomes();
        self.add(None, s, Check::CaSignature, signature);
        self.add(None, s, Check::CaConstraints, constraints);
        self.add(None, s, Check::CaKeyUsage, usage);
        let v = x.validity();
        let window = cert::window(
            v.not_before.to_datetime(),
            v.not_after.to_datetime(),
            self.now,
            None,
        );
        self.add(None, s, Check::CaValidity, window.outcome());
        let key = (self.read_key)(&ca.key);
        self.add(None, s, Check::CaKey, cert::key_matches(key, &x));
        // A store in Vault has no file modes: its policies guard it.
        if let Some(dir) = self.store.dir() {
            self.add(None, s, Check::CaMode, modes(dir, &ca.key));
        }
        Some(der)
    }

    /// A user's current certificate in the store.
    pub fn user(&mut self, e: &CertEntry, ca_der: Option<&[u8]>) {
        let serial = e.serial.to_string();
        let (u, s) = (Some(e.user.as_str()), Some(serial.as_str()));
        let der = match self.store.read_cert_der(&e.cert) {
            Ok(d) => d,
            Err(err) => return self.add(u, s, Check::File, Err(err.to_string())),
        };
        let indexed = matches_index(&der, &e.fingerprint_sha256, &e.cert);
        self.add(u, s, Check::Index, indexed);
        let key = e.key.as_ref().map(|k| (self.read_key)(k));
        self.certificate(&der, Some(&e.user), ca_der, key);
        if let (Some(k), Some(dir)) = (&e.key, self.store.dir()) {
            self.add(u, s, Check::Mode, modes(dir, k));
        }
    }

    /// A certificate file given with `--cert` (PEM text, read from `path`),
    /// and maybe the key file that should match it.
    pub fn file(&mut self, path: &Path, text: &str, key: Option<&Path>, ca_der: Option<&[u8]>) {
        let der = match crate::x509::cert::pem_to_der(text, &path.display().to_string()) {
            Ok(d) => d,
            Err(e) => return self.add(None, None, Check::File, Err(e.to_string())),
        };
        let key_result = key.map(|k| {
            crate::store::fs::read_input_text(k).and_then(|t| {
                PrivateKey::from_pem(&zeroize::Zeroizing::new(t), &k.display().to_string())
            })
        });
        let (user, serial) = self.certificate(&der, None, ca_der, key_result);
        if let Some(k) = key {
            let mode = std::fs::metadata(k)
                .map(|m| m.mode() & 0o777)
                .map_err(|e| format!("cannot stat {}: {}", k.display(), one_line(&e)));
            let res = mode.and_then(|m| secret_mode(k, m));
            self.add(user.as_deref(), serial.as_deref(), Check::Mode, res);
        }
    }

    /// The checks of one user certificate. `user` is who it should belong
    /// to (None: whoever its CN names). Returns (CN, serial) for labelling.
    fn certificate(
        &mut self,
        der: &[u8],
        user: Option<&str>,
        ca_der: Option<&[u8]>,
        key: Option<Result<PrivateKey>>,
    ) -> (Option<String>, Option<String>) {
        let Ok((_, x)) = X509Certificate::from_der(der) else {
            let e = Err("not a valid X.509 certificate".into());
            self.add(user, None, Check::File, e);
            return (user.map(str::to_string), None);
        };
        let serial = crate::x509::serial::Serial::from_der(x.raw_serial()).to_string();
        let label = user.map(str::to_string).or_else(|| {
            x.subject()
                .iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok())
                .map(str::to_string)
        });
        let (u, s) = (label.as_deref(), Some(serial.as_str()));
        let ca = ca_der.and_then(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c));
        let chain = match &ca {
            None => Err("the store CA could not be read, so the chain cannot be checked".into()),
            Some(ca) => cert::chain(&x, ca).outcome(),
        };
        self.add(u, s, Check::Chain, chain);
        self.add(u, s, Check::Name, cert::name_rules(&x, user));
        let v = x.validity();
        let ca_not_after = ca.as_ref().map(|c| c.validity().not_after.to_datetime());
        let window = cert::window(
            v.not_before.to_datetime(),
            v.not_after.to_datetime(),
            self.now,
            ca_not_after,
        );
        let outlives = cert::outlives_warning(window);
        self.add_or_warn((u, s), Check::Validity, outlives, || window.outcome());
        let v1 = cert::v1_leaf_warning(&x);
        self.add_or_warn((u, s), Check::Eku, v1, || cert::client_auth(&x));
        if let Some(k) = key {
            self.add(u, s, Check::Key, cert::key_matches(k, &x));
        }
        (label, Some(serial))
    }

    /// The CRLs the index records (the current CA's, and the other CA's
    /// during a rollover): each file is a CRL with the recorded number,
    /// signed by the CA the index says signed it.
    pub fn crls(&mut self, index: &Index) {
        let other = index.rollover.as_ref().and_then(|r| r.crl.as_ref());
        for crl in index.crl.iter().chain(other) {
            let serial = crl.ca_serial.to_string();
            let s = Some(serial.as_str());
            let outcome = self.crl(index, crl);
            self.add(None, s, Check::Crl, outcome);
        }
    }

    fn crl(&self, index: &Index, crl: &CrlRecord) -> Outcome {
        let ca = index.ca_by_serial(&crl.ca_serial).ok_or_else(|| {
            format!(
                "{} was signed by CA serial {}, which the index does not know",
                crl.path.display(),
                crl.ca_serial
            )
        })?;
        let ca_der = self
            .store
            .read_cert_der(&ca.cert)
            .map_err(|e| e.to_string())?;
        let text = self.store.read_text(&crl.path).map_err(|e| e.to_string())?;
        let seen =
            crate::x509::crl::check_crl(text.as_bytes(), &ca_der, crl.number).map_err(|e| {
                format!(
                    "{} {e}; run `pki crl --out FILE` and publish it",
                    crl.path.display()
                )
            })?;
        Ok(format!("{}: {seen}", crl.path.display()))
    }

    /// Superseded and revoked certificates and earlier CAs: every file the
    /// index names is there and unchanged (nothing is ever lost).
    pub fn history(&mut self, index: &Index) {
        let store = self.store;
        let files = |cert: &Path, key: Option<&Path>, fp: &str| -> Outcome {
            let der = store.read_cert_der(cert).map_err(|e| e.to_string())?;
            matches_index(&der, fp, cert)?;
            if let Some(k) = key {
                let p = store.path(k);
                if !store.holds(k) {
                    return Err(format!(
                        "{} is missing; restore it from a backup",
                        p.display()
                    ));
                }
            }
            Ok(format!(
                "{}{} present and unchanged",
                cert.display(),
                key.map(|k| format!(" and {}", k.display()))
                    .unwrap_or_default()
            ))
        };
        for c in index
            .certificates
            .iter()
            .filter(|c| c.state != CertState::Active)
        {
            let res = files(&c.cert, c.key.as_deref(), &c.fingerprint_sha256);
            self.add(
                Some(&c.user),
                Some(&c.serial.to_string()),
                Check::History,
                res,
            );
        }
        for ca in &index.ca_history {
            let res = files(&ca.cert, Some(&ca.key), &ca.fingerprint_sha256);
            self.add(None, Some(&ca.serial.to_string()), Check::History, res);
        }
    }
}

/// The file on disk is the one the index names.
fn matches_index(der: &[u8], fingerprint: &str, rel: &Path) -> Outcome {
    let actual = sha256_hex(der);
    if actual == fingerprint {
        Ok(format!("{} matches the index", rel.display()))
    } else {
        Err(format!(
            "{} has SHA-256 {actual}, the index says {fingerprint}: the file was replaced; restore it from a backup",
            rel.display()
        ))
    }
}

/// A key file in the store: no access for group or others, nor to any
/// directory from the store down to it.
fn modes(store: &Path, key_rel: &Path) -> Outcome {
    let stat = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.mode() & 0o777)
            .map_err(|e| format!("cannot stat {}: {}", p.display(), one_line(&e)))
    };
    let key = store.join(key_rel);
    secret_mode(&key, stat(&key)?)?;
    let mut dir = store.to_path_buf();
    let mut dirs = vec![dir.clone()];
    for part in key_rel.parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        dirs.push(dir.clone());
    }
    for d in &dirs {
        let m = stat(d)?;
        if m & 0o077 != 0 {
            return Err(format!(
                "directory {} has mode {m:04o}, want 0700: chmod 700 {}",
                d.display(),
                d.display()
            ));
        }
    }
    Ok("key 0600, directories 0700".into())
}

fn secret_mode(key: &Path, mode: u32) -> Outcome {
    if mode & 0o077 != 0 {
        Err(format!(
            "key {} has mode {mode:04o}, want 0600: chmod 600 {}",
            key.display(),
            key.display()
        ))
    } else {
        Ok(format!("key mode {mode:04o}"))
    }
}
