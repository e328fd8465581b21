//! The one issuance path: every user certificate that enters the store
//! (`issue`, `sign`, `import --user`, `rotate`) is validated, signed and
//! recorded here.
//!
//! A batch is checked whole before any key is made; keys are generated on
//! every core while this thread signs and writes; the caller commits the
//! index once (inside a store transaction), so a batch becomes current all
//! at once or not at all.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use time::OffsetDateTime;

use crate::ca::checks::check_ca_valid;
use crate::error::{Error, Result};
use crate::store::audit::{Event, Kind};
use crate::store::fs::{Batch, PUBLIC_MODE, SECRET_MODE};
use crate::store::{CertEntry, CertState, Index, Store, Tx};
use crate::x509::cert::{rfc3339, CertInfo};
use crate::x509::keys::{KeyFormat, KeyType, PrivateKey};
use crate::x509::profile::{self, typed_san, SanKind, Signer, UserProfile};
use crate::x509::serial::Serial;

/// A request for one certificate, fully validated.
#[derive(Clone, Debug)]
pub struct Request {
    pub user: String,
    pub key_type: KeyType,
    pub days: u32,
    pub sans: Vec<String>,
}

/// Refuse a user certificate or request for one of this store's CA keys
/// (the current CA, one in history, a rollover's other): a leaf for the
/// root key would put the root key wherever the user's key goes (`export
/// asp` sends it to every client). `what` names the input; `spki_der` is
/// its whole SubjectPublicKeyInfo.
pub fn refuse_ca_key(store: &Store, index: &Index, spki_der: &[u8], what: &str) -> Result<()> {
    let cas = index
        .ca
        .iter()
        .chain(&index.ca_history)
        .chain(index.rollover.as_ref().map(|r| &r.other));
    for ca in cas {
        let der = store.read_cert_der(&ca.cert)?;
        if CertInfo::from_der(&der, "a CA certificate of the store")?.spki_der == spki_der {
            return Err(Error::input(
                format!(
                    "{what} is for the key of the store's CA (serial {}), not a key of the user's own",
                    ca.serial
                ),
                "a user needs a key of its own: make a new one (e.g. `openssl req -new -newkey rsa:2048`) or let pki make it with `pki issue USER`",
            ));
        }
    }
    Ok(())
}

/// When a certificate is valid, after the clamp to its CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// The validity of every request of a batch, and the warnings the command
/// prints before any key is made.
#[derive(Debug)]
pub struct Prepared {
    pub validity: Vec<Validity>,
    pub warnings: Vec<String>,
}

/// A certificate never outlives its CA: clamp notAfter, and say so.
pub fn clamp(
    now: OffsetDateTime,
    r: &Request,
    ca_not_after: OffsetDateTime,
) -> (Validity, Option<String>) {
    let (not_before, na) = profile::validity(now, r.days);
    if na > ca_not_after {
        let warning = format!(
            "{}: {} days would outlive the CA; the certificate ends with the CA on {}",
            r.user,
            r.days,
            rfc3339(ca_not_after)
        );
        let v = Validity {
            not_before,
            not_after: ca_not_after,
        };
        (v, Some(warning))
    } else {
        let v = Validity {
            not_before,
            not_after: na,
        };
        (v, None)
    }
}

/// The warning for a client key the ephemeral store cannot use, if any.
pub fn non_rsa_warning(user: Option<&str>, key_type: KeyType) -> Option<String> {
    if key_type.is_rsa() {
        return None;
    }
    let who = user.map(|u| format!("{u}: ")).unwrap_or_default();
    Some(format!(
        "{who}{key_type} client keys cannot talk to the ASP ephemeral store, whose TLS stack needs RSA"
    ))
}

/// The warning for a CA key the ephemeral store cannot use, if any (init, import).
pub fn non_rsa_ca_warning(key_type: KeyType) -> Option<String> {
    (!key_type.is_rsa()).then(|| {
        format!(
            "an {key_type} CA cannot serve the ASP ephemeral store, whose TLS stack needs RSA; export marathon will refuse it"
        )
    })
}

/// Check a batch against the CA and clamp each request; nothing is written.
pub fn prepare(signer: &Signer, requests: &[Request], now: OffsetDateTime) -> Result<Prepared> {
    check_ca_valid(signer.not_before, signer.not_after, now)?;
    let mut warnings = Vec::new();
    let validity = requests
        .iter()
        .map(|r| {
            let (v, w) = clamp(now, r, signer.not_after);
            warnings.extend(w);
            v
        })
        .collect();
    Ok(Prepared { validity, warnings })
}

/// Refuse (exit 4) when any of `users` already has a current certificate.
pub fn refuse_existing<'a>(index: &Index, users: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let active = index.active_positions();
    match users.into_iter().find(|u| active.contains_key(*u)) {
        Some(u) => Err(Error::UserHasCert { user: u.into() }),
        None => Ok(()),
    }
}

/// Sign one user certificate for `public_key` with a serial new to
/// `serials` (which then holds it). Returns the DER.
pub fn sign(
    signer: &Signer,
    serials: &mut HashSet<Serial>,
    r: &Request,
    v: Validity,
    crl_url: Option<&str>,
    public_key: &impl rcgen::PublicKeyData,
) -> Result<Vec<u8>> {
    let serial = Serial::random_unused(|s| serials.contains(s))?;
    serials.insert(serial.clone());
    let params = profile::user_params(&UserProfile {
        user: &r.user,
        serial: &serial,
        not_before: v.not_before,
        not_after: v.not_after,
        sans: &r.sans,
        crl_url,
    })?;
    signer.sign(&params, public_key)
}

/// Where a certificate and (when the store holds it) its key were written.
pub type Paths = (PathBuf, Option<PathBuf>);

/// Write a new certificate (and its key, when the store is to hold it)
/// under `users/<user>/`, named by serial; returns their paths. A file
/// `committed` (the index) names is never replaced; an orphan is. With a
/// `batch`, the files are durable only once the batch is synced.
pub fn write_files(
    store: &Store,
    committed: &Index,
    user: &str,
    info: &CertInfo,
    der: &[u8],
    key: Option<(&PrivateKey, KeyFormat)>,
    mut batch: Option<&mut Batch>,
) -> Result<Paths> {
    let user = crate::x509::names::UserName::new(user)?;
    let (cert_rel, key_rel) = Store::user_paths(&user, &info.serial);
    if let Some((k, format)) = key {
        let pem = k.to_pem(format)?;
        store.write_file_in(
            committed,
            &key_rel,
            pem.as_bytes(),
            SECRET_MODE,
            batch.as_deref_mut(),
        )?;
    }
    let pem = crate::x509::cert::der_to_pem(der);
    store.write_file_in(committed, &cert_rel, pem.as_bytes(), PUBLIC_MODE, batch)?;
    Ok((cert_rel, key.map(|_| key_rel)))
}

/// A certificate that entered the store (issued, re-issued, signed or
/// imported): what the commands report and what their audit events name.
#[derive(Clone, Debug)]
pub struct Issued {
    pub user: String,
    pub info: CertInfo,
    /// Its files, as shown to the user (the store's directory joined).
    pub cert_path: PathBuf,
    /// None when the key is not in the store.
    pub key_path: Option<PathBuf>,
    /// The serial this certificate replaced, if any.
    pub replaced_serial: Option<String>,
}

/// One `issued` event per certificate of a batch (`issue`, `rotate`, a rollover).
pub fn issued_events(command: &str, issued: &[Issued]) -> Vec<Event> {
    issued
        .iter()
        .map(|i| {
            let e = Event::new(command, Kind::Issued)
                .user(&i.user)
                .serial(&i.info.serial);
            match &i.replaced_serial {
                Some(old) => e.detail(format!("replaces serial {old}")),
                None => e,
            }
        })
        .collect()
}

/// Make `info` (already on disk at `cert`, with `key` when the store holds
/// it) the user's current certificate: the previous one becomes
/// superseded. `active` is [`Index::active_positions`], kept up to date.
/// Returns the report of what entered the store.
pub fn record(
    tx: &mut Tx<'_>,
    active: &mut HashMap<String, usize>,
    user: &str,
    info: &CertInfo,
    ca_serial: &Serial,
    (cert, key): Paths,
) -> Result<Issued> {
    let entry = CertEntry::from_info(user, info, ca_serial, cert.clone(), key.clone(), tx.now)?;
    let index = &mut tx.index;
    let replaced = active.get(user).map(|&p| {
        let old = &mut index.certificates[p];
        old.state = CertState::Superseded;
        old.serial.clone()
    });
    active.insert(user.to_string(), index.certificates.len());
    index.certificates.push(entry);
    Ok(Issued {
        user: user.to_string(),
        info: info.clone(),
        cert_path: tx.store.path(&cert),
        key_path: key.map(|k| tx.store.path(&k)),
        replaced_serial: replaced.map(|s| s.to_string()),
    })
}

/// One certificate into the store (`sign`, `import --user`): its files
/// written, then recorded as the user's current one.
pub fn write_and_record(
    tx: &mut Tx<'_>,
    user: &str,
    info: &CertInfo,
    der: &[u8],
    ca_serial: &Serial,
    key: Option<(&PrivateKey, KeyFormat)>,
) -> Result<Issued> {
    let paths = write_files(tx.store, &tx.index, user, info, der, key, None)?;
    let mut active = tx.index.active_positions();
    record(tx, &mut active, user, info, ca_serial, paths)
}

/// Generate keys for `requests` on every core, sign, write the files and
/// record them in `tx.index` (the transaction commits). Returns what was
/// issued, in request order. `tick` is called as each user is done.
///
/// Signing and writing happen on this thread while the other threads go on
/// generating keys, so the writes hide behind key generation. The files
/// are written without a sync each and made durable together, with one
/// sync of the store's file system ([`Batch`]), before this returns: the
/// caller's commit can only name files already on disk. The index is
/// looked up through maps built once, so a batch costs O(batch + store),
/// not O(batch x store).
pub fn issue_batch(
    tx: &mut Tx<'_>,
    signer: &Signer,
    requests: &[Request],
    prepared: &Prepared,
    format: KeyFormat,
    tick: &dyn Fn(),
) -> Result<Vec<Issued>> {
    let store = tx.store;
    let mut serials = tx.index.serials();
    // The signing CA's own CRL URL (a rollover's new CA has one of its own).
    let crl_url = crate::ca::revoke::crl_url_of(&tx.index, &signer.serial);
    let mut made: Vec<Option<(CertInfo, Paths)>> = requests.iter().map(|_| None).collect();
    let types: Vec<KeyType> = requests.iter().map(|r| r.key_type).collect();
    let committed = &tx.index;
    // A directory store's files are synced together; Vault's objects are
    // durable as each is written.
    let mut batch = store.dir().map(Batch::start).transpose()?;
    generate_keys_each(&types, |i, key| {
        let r = &requests[i];
        let der = sign(
            signer,
            &mut serials,
            r,
            prepared.validity[i],
            crl_url.as_deref(),
            &key.key_pair()?,
        )?;
        let info = CertInfo::from_der(&der, "the new certificate")?;
        let key = Some((&key, format));
        let paths = write_files(store, committed, &r.user, &info, &der, key, batch.as_mut())?;
        made[i] = Some((info, paths));
        tick();
        Ok(())
    })?;
    // Every file is written; on disk once this returns.
    if let Some(b) = batch {
        b.sync()?;
    }
    // Every file is on disk; now record them, in request order.
    let mut active = tx.index.active_positions();
    let mut out = Vec::with_capacity(requests.len());
    for (r, m) in requests.iter().zip(made) {
        let (info, paths) = m.expect("every key was generated");
        out.push(record(
            tx,
            &mut active,
            &r.user,
            &info,
            &signer.serial,
            paths,
        )?);
    }
    Ok(out)
}

/// A user to issue again: its current certificate's lifetime and key type
/// unless the caller says otherwise.
#[derive(Clone, Debug)]
pub struct Renewal {
    pub user: String,
    pub key_type: KeyType,
    pub days: u32,
}

/// Issue each user of `renewals` (all with a current certificate and key
/// in the store) again under `signer`, keeping each one's SANs and key form
/// (`format` overrides it). Returns what was issued (in key-format
/// groups) and the warnings to print; the caller records the events.
pub fn reissue(
    tx: &mut Tx<'_>,
    signer: &Signer,
    renewals: &[Renewal],
    format: Option<KeyFormat>,
) -> Result<(Vec<Issued>, Vec<String>)> {
    let mut warnings = Vec::new();
    // Group by key format: issue_batch writes one format per call.
    let mut groups: std::collections::BTreeMap<bool, Vec<Request>> = Default::default();
    let pos = tx.index.active_positions();
    for u in renewals {
        let old = &tx.index.certificates[*pos
            .get(&u.user)
            .expect("renewals are users with a current certificate")];
        let key = old
            .key
            .as_ref()
            .expect("renewals have their key in the store");
        let fmt = match format {
            Some(f) => f,
            None => key_format_of(tx.store, key, old.key_type)?,
        };
        if u.key_type != old.key_type {
            warnings.extend(non_rsa_warning(Some(&u.user), u.key_type));
        }
        let sans = sans_of(tx.store, old, &mut warnings)?;
        groups
            .entry(fmt == KeyFormat::Pkcs8)
            .or_default()
            .push(Request {
                user: u.user.clone(),
                key_type: u.key_type,
                days: u.days,
                sans,
            });
    }
    let mut out = Vec::new();
    for (pkcs8, requests) in groups {
        let fmt = if pkcs8 {
            KeyFormat::Pkcs8
        } else {
            KeyFormat::Native
        };
        let prepared = prepare(signer, &requests, tx.now)?;
        warnings.extend(prepared.warnings.iter().cloned());
        let issued = issue_batch(tx, signer, &requests, &prepared, fmt, &|| {})?;
        out.extend(issued);
    }
    Ok((out, warnings))
}

/// The form a key file was written in, so a re-issue keeps it.
pub fn key_format_of(store: &Store, key: &std::path::Path, key_type: KeyType) -> Result<KeyFormat> {
    let text = zeroize::Zeroizing::new(store.read_text(key)?);
    Ok(
        if key_type != KeyType::Ed25519 && text.starts_with("-----BEGIN PRIVATE KEY-----") {
            KeyFormat::Pkcs8
        } else {
            KeyFormat::Native
        },
    )
}

/// The subject alternative names of `old`, in the form `--san` takes, so
/// a re-issue keeps them; one it cannot carry over is dropped with a warning.
fn sans_of(store: &Store, old: &CertEntry, warnings: &mut Vec<String>) -> Result<Vec<String>> {
    let info = CertInfo::from_der(&store.read_cert_der(&old.cert)?, "the current certificate")?;
    let mut out = Vec::new();
    for san in info.subject_alt_names {
        let kinds = [
            ("DNS:", SanKind::Dns),
            ("IP:", SanKind::Ip),
            ("email:", SanKind::Email),
            ("URI:", SanKind::Uri),
        ];
        // Only a name whose text reads back as its own type: the new
        // certificate must not carry it under another type.
        match kinds
            .iter()
            .find_map(|(p, k)| Some((*k, san.strip_prefix(p)?)))
        {
            Some((kind, v)) if typed_san(kind, v).is_ok() => out.push(v.to_string()),
            _ => warnings.push(format!(
                "{}: the alternative name {san} cannot be carried over and is dropped",
                old.user
            )),
        }
    }
    Ok(out)
}

/// Generate one key per entry of `types` on all cores, calling `done(i, key)`
/// on the calling thread as each key is ready (in completion order, so the
/// caller's work overlaps with generation). Workers take the next entry as
/// they finish one: RSA key generation time varies a lot from key to key,
/// so fixed shares would leave a core idle. The first error from
/// generation or from `done` stops the workers and is returned.
pub fn generate_keys_each(
    types: &[KeyType],
    mut done: impl FnMut(usize, PrivateKey) -> Result<()>,
) -> Result<()> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(types.len());
    if workers <= 1 {
        for (i, t) in types.iter().enumerate() {
            done(i, PrivateKey::generate(*t)?)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<PrivateKey>)>();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= types.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                if tx.send((i, PrivateKey::generate(types[i]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Ends when every worker has finished (all senders dropped).
        let result = rx
            .iter()
            .try_for_each(|(i, key)| key.and_then(|k| done(i, k)));
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_cuts_to_the_ca_and_says_so() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let r = Request {
            user: "alice".into(),
            key_type: KeyType::Rsa2048,
            days: 365,
            sans: vec![],
        };
        let ca_end = time::macros::datetime!(2026-03-01 00:00 UTC);
        let (v, w) = clamp(now, &r, ca_end);
        assert_eq!(v.not_after, ca_end);
        assert!(w.unwrap().contains("alice: 365 days would outlive the CA"));
        let (v, w) = clamp(now, &r, time::macros::datetime!(2030-01-01 00:00 UTC));
        assert_eq!(v.not_after, time::macros::datetime!(2027-01-01 00:00 UTC));
        assert!(w.is_none());
    }

    #[test]
    fn only_non_rsa_keys_are_warned_about() {
        assert!(non_rsa_warning(None, KeyType::Rsa2048).is_none());
        let w = non_rsa_warning(Some("bob"), KeyType::EcdsaP256).unwrap();
        assert!(w.starts_with("bob: ") && w.contains("needs RSA"), "{w}");
    }
}
