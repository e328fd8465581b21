//! `index.json`: the one source of truth of a store (current CA, every
//! certificate, settings, CRL bookkeeping), and the lookups on it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::x509::cert::CertInfo;
use crate::x509::crl::Reason;
use crate::x509::keys::KeyType;
use crate::x509::serial::Serial;

use super::Store;

/// The index format this build reads and writes.
pub const INDEX_FORMAT: u32 = 1;
pub const INDEX_FILE: &str = "index.json";

/// `index.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    /// A staged CA rollover in progress (`pki rollover`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<Rollover>,
    /// A directory store's `index.json` past 1,000 certificates (format 2):
    /// the shard files that hold them ([`super::shard`]). Never set in an
    /// index read back: its entries are then in `certificates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<super::shard::ShardMap>,
    /// Which shards this index was read from, when it was (not written).
    #[serde(skip)]
    pub layout: Option<super::shard::Layout>,
}

/// The phase of a CA rollover (docs/rollover.md). `done` is no rollover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The new CA exists and is trusted beside the current (old) one; the
    /// old one still signs.
    Trust,
    /// The new CA is current and signs; the old one is still trusted.
    Switch,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Trust => "trust",
            Phase::Switch => "switch",
        }
    }
}

/// A CA rollover in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollover {
    pub phase: Phase,
    /// The CA trusted beside the current one: the incoming CA in `trust`,
    /// the outgoing one in `switch`.
    pub other: CaEntry,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When the current phase began.
    #[serde(with = "time::serde::rfc3339")]
    pub phase_since: OffsetDateTime,
    /// The last CRL of the other CA (`pki crl` makes one per CA while a
    /// rollover runs; `crl` above is the current CA's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlRecord>,
}

/// The last CRL made by `pki crl`. Its number only grows (RFC 5280 5.2.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlRecord {
    pub number: u64,
    /// Serial of the CA that signed it.
    pub ca_serial: Serial,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// Path relative to the store.
    pub path: PathBuf,
}

/// Store-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// CRL distribution point put into every certificate issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_url: Option<String>,
    /// What `--by-reference` published on the store's Vault, by name, and
    /// how to compute it again: every rotation and rollover publishes it
    /// anew ([`super::publish::Publication`]). Empty on a directory store.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub published: std::collections::BTreeMap<String, super::publish::Publication>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaEntry {
    pub subject: String,
    pub serial: Serial,
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
    /// Its certificates name a CRL URL of its own: the configured one with
    /// the CA serial inserted (a CA made by `rollover start`, whose
    /// certificates are in use beside the other CA's; docs/revocation.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_crl_url: bool,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertEntry {
    pub user: String,
    pub serial: Serial,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub key_type: KeyType,
    pub fingerprint_sha256: String,
    pub state: CertState,
    /// Serial of the CA that signed it.
    pub ca_serial: Serial,
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
    /// The CRL reason given to `pki revoke --reason`, by its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<Reason>,
}

impl CertEntry {
    pub fn from_info(
        user: &str,
        info: &CertInfo,
        ca_serial: &Serial,
        cert: PathBuf,
        key: Option<PathBuf>,
        now: OffsetDateTime,
    ) -> Result<Self> {
        Ok(CertEntry {
            user: user.to_string(),
            serial: info.serial.clone(),
            not_before: info.not_before,
            not_after: info.not_after,
            key_type: info.key_type.ok_or_else(|| Error::UnsupportedKey {
                what: format!("the certificate for {user}"),
            })?,
            fingerprint_sha256: info.fingerprint_sha256.clone(),
            state: CertState::Active,
            ca_serial: ca_serial.clone(),
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
            key_type: info.key_type.ok_or_else(|| Error::UnsupportedKey {
                what: "the CA certificate".into(),
            })?,
            fingerprint_sha256: info.fingerprint_sha256.clone(),
            cert,
            key,
            created_at: now,
            encrypted: false,
            own_crl_url: false,
        })
    }
}

impl Index {
    /// Check every entry read from `path` as if a user had typed it, before
    /// anything acts on it: user names by the rules of `pki issue`, file
    /// paths relative and where pki puts them (`ca/<file>`,
    /// `users/<user>/<file>`, `crl/<file>`: no `..`, no `.`, nothing
    /// absolute), serials and fingerprints in the form pki writes, no
    /// control characters in subjects, one active certificate per user and
    /// each serial once. The error names the entry (exit 2).
    pub fn validate(&self, path: &std::path::Path) -> Result<()> {
        let bad = |entry: String, problem: String| Error::BadIndex {
            path: path.to_path_buf(),
            entry,
            problem,
        };
        let mut serials = std::collections::HashSet::new();
        let mut serial_once = |entry: &str, serial: &Serial| {
            if serials.insert(serial.clone()) {
                Ok(())
            } else {
                Err(bad(
                    entry.into(),
                    format!("repeats serial {serial}, which another entry has"),
                ))
            }
        };
        // The other CA of a rollover is also in ca_history once the new
        // one is current (`switch`): its serial may repeat, nothing else.
        let other = self.rollover.as_ref().map(|r| &r.other);
        let cas = self
            .ca
            .iter()
            .map(|c| ("ca".to_string(), c))
            .chain(
                self.ca_history
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("ca_history[{i}]"), c)),
            )
            .chain(other.map(|c| ("rollover.other".to_string(), c)));
        for (entry, ca) in cas {
            let entry = format!("{entry} (serial {:?})", ca.serial.to_string());
            hex_field(&ca.fingerprint_sha256, true)
                .map_err(|p| bad(entry.clone(), format!("has fingerprint {p}")))?;
            if let Some(c) = crate::x509::names::control_char(&ca.subject) {
                return Err(bad(entry, format!("has a subject with {c}")));
            }
            for (what, p) in [("certificate", &ca.cert), ("key", &ca.key)] {
                placed(p, &["ca"])
                    .map_err(|p| bad(entry.clone(), format!("names its {what} {p}")))?;
            }
            let again = other.is_some_and(|o| std::ptr::eq(o, ca))
                && self.ca_history.iter().any(|h| h == ca);
            if !again {
                serial_once(&entry, &ca.serial)?;
            }
        }
        let mut active = std::collections::HashSet::new();
        for (i, c) in self.certificates.iter().enumerate() {
            let entry = format!(
                "certificates[{i}] (user {:?}, serial {:?})",
                c.user,
                c.serial.to_string()
            );
            crate::x509::names::validate_user(&c.user)
                .map_err(|e| bad(entry.clone(), format!("has a bad name: {}", e.what())))?;
            hex_field(&c.fingerprint_sha256, true)
                .map_err(|p| bad(entry.clone(), format!("has fingerprint {p}")))?;
            let dir = ["users", c.user.as_str()];
            placed(&c.cert, &dir)
                .map_err(|p| bad(entry.clone(), format!("names its certificate {p}")))?;
            if let Some(k) = &c.key {
                placed(k, &dir).map_err(|p| bad(entry.clone(), format!("names its key {p}")))?;
            }
            if c.state == CertState::Active && !active.insert(c.user.as_str()) {
                return Err(bad(
                    entry,
                    format!("is a second active certificate for user {:?}; a user has one current certificate", c.user),
                ));
            }
            serial_once(&entry, &c.serial)?;
        }
        let other_crl = self.rollover.as_ref().and_then(|r| r.crl.as_ref());
        for crl in self.crl.iter().chain(other_crl) {
            let entry = format!("crl (number {})", crl.number);
            placed(&crl.path, &["crl"]).map_err(|p| bad(entry, format!("names its file {p}")))?;
        }
        if let Some(url) = &self.settings.crl_url {
            crate::x509::profile::parse_crl_url(url)
                .map_err(|p| bad("settings.crl_url".into(), format!("is {p}")))?;
        }
        Ok(())
    }

    /// When `text` (an index that does not parse as one) names a
    /// revocation reason pki does not know, the refusal naming that entry,
    /// as [`Index::validate`] words its refusals. Read only on that failure.
    pub fn unknown_reason(text: &[u8], path: &std::path::Path) -> Option<Error> {
        let v: serde_json::Value = serde_json::from_slice(text).ok()?;
        v.get("certificates")?
            .as_array()?
            .iter()
            .enumerate()
            .find_map(|(i, c)| {
                let r = c.get("revocation_reason")?;
                if r.as_str().is_some_and(|s| Reason::from_name(s).is_some()) {
                    return None;
                }
                let known: Vec<&str> = <Reason as clap::ValueEnum>::value_variants()
                    .iter()
                    .map(|r| r.name())
                    .collect();
                Some(Error::BadIndex {
                    path: path.to_path_buf(),
                    entry: format!(
                        "certificates[{i}] (user {}, serial {})",
                        c["user"], c["serial"]
                    ),
                    problem: format!(
                        "has revocation reason {r}, which is not one pki writes ({})",
                        known.join(", ")
                    ),
                })
            })
    }

    pub fn new() -> Self {
        Index {
            format: INDEX_FORMAT,
            ..Default::default()
        }
    }

    /// The current root CA, or an error that says to run `pki init`.
    pub fn ca(&self, store: &Store) -> Result<&CaEntry> {
        self.ca
            .as_ref()
            .ok_or_else(|| Error::NoStore { dir: store.name() })
    }

    /// The CAs a store and its clients trust at `now`: the current one
    /// first (it signs), then the other CA of a rollover in progress, then
    /// the earlier certificates of the current key (`rotate --ca
    /// --keep-key`, newest first) until each expires.
    pub fn trusted(&self, now: OffsetDateTime) -> Vec<&CaEntry> {
        let renewed = self.ca.iter().flat_map(|ca| {
            self.ca_history
                .iter()
                .rev()
                .filter(move |h| h.key == ca.key && h.serial != ca.serial && now < h.not_after)
        });
        self.ca
            .iter()
            .chain(self.rollover.as_ref().map(|r| &r.other))
            .chain(renewed)
            .collect()
    }

    /// Whether the CA with serial `ca_serial` holds the key of `ca`: `ca`
    /// itself, or a certificate of the same key it renewed (`rotate --ca
    /// --keep-key` writes no new key file, so they name the same one).
    /// What one of them signed verifies under the other.
    pub fn same_key(&self, ca_serial: &Serial, ca: &CaEntry) -> bool {
        *ca_serial == ca.serial
            || self
                .ca
                .iter()
                .chain(&self.ca_history)
                .chain(self.rollover.as_ref().map(|r| &r.other))
                .any(|c| c.serial == *ca_serial && c.key == ca.key)
    }

    /// Whether this index holds the entries of `user`: always, unless it
    /// was read in part, from the shards of some users only.
    pub fn holds_user(&self, user: &str) -> bool {
        self.layout.as_ref().is_none_or(|l| l.holds(user))
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

    /// Every revoked certificate signed with the key of `ca` (by it, or by
    /// a certificate of that key it renewed, [`Index::same_key`]): what
    /// `ca`'s CRL lists.
    pub fn revoked_by<'a>(&'a self, ca: &'a CaEntry) -> impl Iterator<Item = &'a CertEntry> {
        self.certificates
            .iter()
            .filter(move |c| c.state == CertState::Revoked && self.same_key(&c.ca_serial, ca))
    }

    /// Mark the user's active certificate superseded; returns its serial.
    pub fn supersede(&mut self, user: &str) -> Option<Serial> {
        let e = self
            .certificates
            .iter_mut()
            .rev()
            .find(|c| c.user == user && c.state == CertState::Active)?;
        e.state = CertState::Superseded;
        Some(e.serial.clone())
    }

    /// Make `ca` the current CA. An earlier CA moves to `ca_history` and
    /// every active certificate not signed with `ca`'s key becomes
    /// superseded (users must be issued anew under the new CA); returns how
    /// many were. Certificates `ca` signed already (a rotation re-issues
    /// before it commits) stay active, and so does everything when `ca`
    /// renews the old CA with its key ([`Index::same_key`]).
    pub fn replace_ca(&mut self, ca: CaEntry) -> usize {
        let Some(old) = self.ca.replace(ca) else {
            return 0;
        };
        self.ca_history.push(old);
        let ca = self.ca.clone().expect("just set");
        let signers: std::collections::HashSet<Serial> = self
            .certificates
            .iter()
            .map(|c| c.ca_serial.clone())
            .filter(|s| !self.same_key(s, &ca))
            .collect();
        let mut retired = 0;
        for c in self
            .certificates
            .iter_mut()
            .filter(|c| c.state == CertState::Active && signers.contains(&c.ca_serial))
        {
            c.state = CertState::Superseded;
            retired += 1;
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
    pub fn serials(&self) -> std::collections::HashSet<Serial> {
        let cas = self
            .ca
            .iter()
            .chain(&self.ca_history)
            .chain(self.rollover.as_ref().map(|r| &r.other))
            .map(|c| &c.serial);
        self.certificates
            .iter()
            .map(|c| &c.serial)
            .chain(cas)
            .cloned()
            .collect()
    }

    /// Whether any entry (a CA, a rollover's other CA, a certificate, the
    /// CRL) names the file `rel`.
    pub fn names(&self, rel: &std::path::Path) -> bool {
        self.files().any(|p| p == rel)
    }

    /// Every file an entry names (CAs, a rollover's other CA, certificates
    /// and their keys, the CRLs), each once per entry.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        let cas = self
            .ca
            .iter()
            .chain(&self.ca_history)
            .chain(self.rollover.as_ref().map(|r| &r.other));
        cas.flat_map(|c| [Some(&c.cert), Some(&c.key)])
            .chain(
                self.certificates
                    .iter()
                    .flat_map(|c| [Some(&c.cert), c.key.as_ref()]),
            )
            .chain(std::iter::once(self.crl.as_ref().map(|c| &c.path)))
            .chain(std::iter::once(
                self.rollover
                    .as_ref()
                    .and_then(|r| r.crl.as_ref())
                    .map(|c| &c.path),
            ))
            .flatten()
    }

    /// The CA with serial `serial`: current, earlier, or a rollover's other.
    pub fn ca_by_serial(&self, serial: &Serial) -> Option<&CaEntry> {
        self.ca
            .iter()
            .chain(&self.ca_history)
            .chain(self.rollover.as_ref().map(|r| &r.other))
            .find(|c| c.serial == *serial)
    }

    pub fn serial_in_use(&self, serial: &Serial) -> bool {
        self.certificates.iter().any(|c| c.serial == *serial)
            || self
                .ca
                .iter()
                .chain(&self.ca_history)
                .chain(self.rollover.as_ref().map(|r| &r.other))
                .any(|c| c.serial == *serial)
    }
}

/// A hex field as pki writes it: lower-case, whole octets, non-empty (and
/// 64 digits for a SHA-256 fingerprint). The error quotes the value.
fn hex_field(v: &str, sha256: bool) -> std::result::Result<(), String> {
    let ok = !v.is_empty()
        && v.len().is_multiple_of(2)
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (!sha256 || v.len() == 64);
    if ok {
        Ok(())
    } else {
        Err(format!("{v:?}, which is not the lower-case hex pki writes"))
    }
}

/// A path the index records: relative, exactly `<dir...>/<file>` with a
/// plain file name (no `..`, `.`, empty or absolute part). The error
/// quotes the path and says where it should be.
fn placed(p: &std::path::Path, dir: &[&str]) -> std::result::Result<(), String> {
    let want = dir.join("/");
    let refuse = || {
        format!(
            "{:?}, which is not a file directly under {want}/ in the store",
            p.display().to_string()
        )
    };
    let s = p.to_str().ok_or_else(refuse)?;
    let parts: Vec<&str> = s.split('/').collect();
    let (file, head) = parts.split_last().ok_or_else(refuse)?;
    let plain = !file.is_empty()
        && *file != "."
        && *file != ".."
        && crate::x509::names::control_char(file).is_none();
    if head != dir || !plain {
        return Err(refuse());
    }
    Ok(())
}

impl Index {
    /// Read an index from its text (`path`: where it was read, for
    /// messages): the format must be this pki's and every entry what pki
    /// writes ([`Index::validate`]).
    pub fn parse(text: &[u8], path: &std::path::Path) -> Result<Index> {
        let index = Index::from_text(text, path)?;
        index.check_format(path, INDEX_FORMAT)?;
        index.validate(path)?;
        Ok(index)
    }

    /// A format 1 index, or format 2 when `newest` allows it (a directory
    /// store's `index.json`, whose entries are in shards: its map, none of
    /// its entries); anything else is another version's or damaged.
    pub fn check_format(&self, path: &std::path::Path, newest: u32) -> Result<()> {
        let sharded = self.format == super::shard::SHARDED_FORMAT && newest >= self.format;
        if self.format != INDEX_FORMAT && !sharded {
            return Err(other_format(&path.display(), self.format, newest));
        }
        if sharded != self.shards.is_some() || (sharded && !self.certificates.is_empty()) {
            return Err(Error::failed(
                format!(
                    "{} is damaged: format {} with{} a shard map and {} certificate(s) of its own",
                    path.display(),
                    self.format,
                    if self.shards.is_some() { "" } else { "out" },
                    self.certificates.len()
                ),
                "restore it from a backup; the certificates and keys beside it are intact",
            ));
        }
        Ok(())
    }

    /// An index's text as serde reads it, nothing checked yet; an error
    /// names the entry where it went wrong.
    pub fn from_text(text: &[u8], path: &std::path::Path) -> Result<Index> {
        let path = path.to_path_buf();
        // The plain reader first (tracking the path of every value would
        // triple the cost of a large index); only a refused index is read
        // again, to say where it went wrong.
        let index: Index = serde_json::from_slice(text)
            .or_else(|_| {
                let mut de = serde_json::Deserializer::from_slice(text);
                serde_path_to_error::deserialize(&mut de)
            })
            .map_err(|e| {
                if let Some(refusal) = Index::unknown_reason(text, &path) {
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
        Ok(index)
    }
}

/// The refusal of a store object another pki version wrote.
pub fn other_format(what: &impl std::fmt::Display, found: u32, reads: u32) -> Error {
    Error::failed(
        format!("{what} has format {found}, this pki reads format {reads}"),
        "use the pki version that made this store",
    )
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
            ca_serial: "0c".into(),
            cert: "c".into(),
            key: None,
            issued_at: t,
            revoked_at: None,
            revocation_reason: None,
        }
    }

    #[test]
    fn recorded_paths_must_be_plain_files_where_pki_puts_them() {
        let users = ["users", "alice"];
        assert!(placed("users/alice/1f.crt".as_ref(), &users).is_ok());
        for bad in [
            "/etc/passwd",
            "users/alice/../../x.key",
            "users/./alice/1f.key",
            "users//alice/1f.key",
            "users/bob/1f.key",
            "ca/1f.key",
            "users/alice/",
            "users/alice/..",
            "users/alice/sub/1f.key",
        ] {
            assert!(placed(bad.as_ref(), &users).is_err(), "{bad}");
        }
        assert!(hex_field("0a1b", false).is_ok());
        for bad in ["", "0A", "abc", "../x", "zz"] {
            assert!(hex_field(bad, false).is_err(), "{bad}");
        }
        assert!(hex_field("ab", true).is_err());
    }

    fn ca(serial: &str, key: &str, not_after: OffsetDateTime) -> CaEntry {
        CaEntry {
            subject: "CN=rootCA".into(),
            serial: serial.into(),
            not_before: not_after - time::Duration::days(10),
            not_after,
            key_type: KeyType::Rsa2048,
            fingerprint_sha256: String::new(),
            cert: format!("ca/{serial}.crt").into(),
            key: key.into(),
            created_at: not_after,
            encrypted: false,
            own_crl_url: false,
        }
    }

    #[test]
    fn a_renewal_keeps_users_and_is_trusted_until_it_expires() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut i = Index::new();
        i.ca = Some(ca("0c", "ca/c.key", t));
        i.certificates = vec![entry("a", "1", CertState::Active)];
        // Renewed with the same key file: alice stays active, both trusted.
        let renewed = ca("0d", "ca/c.key", t + time::Duration::days(100));
        assert_eq!(i.replace_ca(renewed.clone()), 0);
        assert!(i.active("a").is_some() && i.same_key(&"0c".into(), &renewed));
        let serials = |v: Vec<&CaEntry>| v.iter().map(|c| c.serial.clone()).collect::<Vec<_>>();
        assert_eq!(
            serials(i.trusted(t - time::Duration::days(1))),
            ["0d", "0c"]
        );
        assert_eq!(
            serials(i.trusted(t)),
            ["0d"],
            "the old one, once expired, is not"
        );
        i.certificates[0].state = CertState::Revoked;
        assert_eq!(i.revoked_by(&renewed).count(), 1);
        // A new key supersedes what either certificate of the old key signed.
        let replaced = ca("0e", "ca/e.key", t + time::Duration::days(200));
        i.certificates.push(entry("b", "2", CertState::Active));
        assert_eq!(i.replace_ca(replaced.clone()), 1);
        assert!(!i.same_key(&"0c".into(), &replaced) && i.revoked_by(&replaced).count() == 0);
        assert_eq!(serials(i.trusted(t - time::Duration::days(1))), ["0e"]);
    }

    #[test]
    fn current_is_the_newest_non_superseded_per_user() {
        let mut i = Index::new();
        i.certificates = vec![
            entry("a", "01", CertState::Superseded),
            entry("b", "02", CertState::Revoked),
            entry("a", "03", CertState::Active),
            entry("b", "04", CertState::Active),
        ];
        let cur: Vec<_> = i.current().iter().map(|c| c.serial.to_string()).collect();
        assert_eq!(cur, ["03", "04"]);
        assert_eq!(i.supersede("a"), Some("03".into()));
        assert!(i.active("a").is_none());
        assert!(i.serial_in_use(&"01".into()) && !i.serial_in_use(&"09".into()));
        let pos = i.active_positions();
        assert_eq!(pos.len(), 1);
        assert_eq!(i.certificates[pos["b"]].serial, "04");
        assert!(i.serials().contains(&"02".into()) && !i.serials().contains(&"09".into()));
    }
}
