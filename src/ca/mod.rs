//! The authority's acts on an index: create or replace the CA, issue,
//! plan rotations, revoke, stage a rollover; the checks a certificate is
//! held to (`checks`); the CA key's passphrase, decryption and signer
//! (`key`). Callers run the acts inside a store transaction
//! ([`crate::store::Store::transact`]). Nothing here prints; `key` asks for
//! a passphrase on the terminal, without echo, when an encrypted key must
//! be read and no passphrase file was given.

pub mod checks;
pub mod issue;
pub mod key;
pub mod plan;
pub mod policy;
pub mod revoke;
pub mod rollover;

use time::OffsetDateTime;

use crate::error::Result;
use crate::store::audit::{Event, Kind};
use crate::store::{CaEntry, Index, Store};
use crate::x509::cert::CertInfo;
use crate::x509::keys::{KeyFormat, KeyType, PrivateKey};
use crate::x509::profile::{self, Signer};
use crate::x509::serial::Serial;

/// Why a CA cannot sign, in words: "the root CA expired on ..." or "the
/// root CA is not valid before ...".
pub fn ca_unusable(expired: bool, not_before: OffsetDateTime, not_after: OffsetDateTime) -> String {
    if expired {
        format!(
            "the root CA expired on {}",
            crate::x509::cert::rfc3339(not_after)
        )
    } else {
        format!(
            "the root CA is not valid before {}",
            crate::x509::cert::rfc3339(not_before)
        )
    }
}

/// The warning for an export of the CA (`export marathon`, `export asp`):
/// the store would refuse every client when the CA is expired or not yet
/// valid, and a CA inside its window needs a planned rotation. None when
/// the CA is sound.
pub fn export_warning(ca: &CaEntry, within: policy::Within, now: OffsetDateTime) -> Option<String> {
    use policy::Standing;
    let when = policy::time_left(ca.not_before, ca.not_after, now);
    match within.standing(ca.not_before, ca.not_after, now) {
        Standing::Valid => None,
        Standing::Expired | Standing::NotYetValid => Some(format!(
            "{} ({when}): the store will refuse every client; make a new one with `pki rotate --ca --force` and redeploy",
            ca_unusable(now >= ca.not_after, ca.not_before, ca.not_after)
        )),
        Standing::Due => Some(format!(
            "the root CA expires on {} ({when}): plan `pki rotate --ca` and a redeploy of the store and its clients",
            crate::x509::cert::rfc3339(ca.not_after)
        )),
    }
}

/// What a new root CA is made of.
pub struct NewCa<'a> {
    pub cn: &'a str,
    pub key_type: KeyType,
    pub days: u32,
    pub format: KeyFormat,
    /// Encrypt the key under this passphrase (PKCS#8, scrypt).
    pub pass: Option<&'a zeroize::Zeroizing<Vec<u8>>>,
}

/// Make a root CA: key, self-signed certificate, both files written (never
/// replacing). Returns its index entry, not yet current, and a signer.
pub fn create_ca(
    store: &Store,
    index: &Index,
    ca: &NewCa<'_>,
    now: OffsetDateTime,
) -> Result<(CaEntry, Signer)> {
    let key = PrivateKey::generate(ca.key_type)?;
    let serial = Serial::random_unused(|s| index.serial_in_use(s))?;
    let (not_before, not_after) = profile::validity(now, ca.days);
    let der = profile::self_sign(
        &profile::ca_params(ca.cn, &serial, not_before, not_after),
        &key,
    )?;
    let info = CertInfo::from_der(&der, "the new CA certificate")?;
    let pem = key::key_pem(&key, ca.format, ca.pass)?;
    let entry = store.write_ca(index, &info, &der, &pem, ca.pass.is_some(), now)?;
    Ok((entry, Signer::new(der, key)?))
}

/// Make a successor to the current CA (`rotate --ca`, `rollover start`):
/// the same Common Name, `key_type` and `days`, the old key's form unless
/// `format` says otherwise; an encrypted CA stays encrypted (the new key
/// goes under the passphrase given). Written, not yet current.
pub fn create_successor(
    store: &Store,
    index: &Index,
    key_type: KeyType,
    days: u32,
    format: Option<KeyFormat>,
    pass: &key::Passphrase,
    now: OffsetDateTime,
) -> Result<(CaEntry, Signer)> {
    let old = index.ca(store)?;
    let cn = CertInfo::from_der(&store.read_cert_der(&old.cert)?, "the CA certificate")?
        .common_names
        .first()
        .cloned()
        .unwrap_or_else(|| "rootCA".into());
    let format = match format {
        Some(f) => f,
        None => issue::key_format_of(store, &old.key, old.key_type)?,
    };
    let pass = pass.for_new_key(old.encrypted)?;
    let new = NewCa {
        cn: &cn,
        key_type,
        days,
        format,
        pass: pass.as_ref(),
    };
    create_ca(store, index, &new, now)
}

/// Renew the current CA with its key (`rotate --ca --keep-key`): a new
/// certificate with the same subject, key and subject key identifier, a
/// new serial and `days` of validity from `now`. Only the certificate is
/// written; the entry names the old key file (a shared key file is how the
/// index tells a renewal, [`Index::same_key`]). Everything the old
/// certificate signed chains to the new one. Not yet current.
pub fn renew_ca(
    store: &Store,
    index: &Index,
    days: u32,
    now: OffsetDateTime,
    pass: &crate::ca::key::Passphrase,
) -> Result<(CaEntry, Signer)> {
    let old = index.ca(store)?;
    let signer = crate::ca::key::signer_for(store, old, pass)?;
    let serial = Serial::random_unused(|s| index.serial_in_use(s))?;
    let (not_before, not_after) = profile::validity(now, days);
    let params = profile::renewal_params(&signer.cert_der, &serial, not_before, not_after)?;
    let der = profile::self_sign(&params, &signer.key)?;
    let info = CertInfo::from_der(&der, "the renewed CA certificate")?;
    let (cert, _) = Store::ca_paths(&info.serial);
    store.write_cert(index, &cert, &der)?;
    let mut entry = CaEntry::from_info(&info, cert, old.key.clone(), now)?;
    entry.encrypted = old.encrypted;
    Ok((entry, Signer::new(der, signer.key)?))
}

/// Make `ca` the current CA (`init`, `import`, `rotate --ca`): the old one
/// moves to history and every current certificate it signed is superseded
/// (certificates already signed by `ca` stay current: `reissued` counts
/// those a rotation made under it, superseding the old CA's). Returns how
/// many `install_ca` superseded, and the audit event, which counts all
/// the old CA's current certificates that were superseded.
pub fn install_ca(
    index: &mut Index,
    ca: CaEntry,
    command: &str,
    event: Kind,
    reissued: usize,
) -> (usize, Event) {
    let retired = index.replace_ca(ca);
    (retired, ca_event(command, event, index, reissued + retired))
}

/// What to tell people after a new CA superseded `retired` certificates.
pub fn retired_note(retired: usize) -> Option<String> {
    (retired > 0).then(|| format!(
        "the previous CA and its {retired} user certificate(s) are kept in history; issue users again with `pki issue USER...` and redeploy the env"
    ))
}

/// The audit event of a new current CA.
fn ca_event(command: &str, event: Kind, index: &Index, retired: usize) -> Event {
    let ca = index.ca.as_ref().expect("the CA was just set");
    let mut detail = format!("{}, {}", ca.subject, ca.key_type);
    if ca.encrypted {
        detail.push_str(", key encrypted");
    }
    if let Some(old) = index.ca_history.last() {
        detail.push_str(&format!(
            "; replaces CA serial {} ({retired} user certificate(s) superseded)",
            old.serial
        ));
    }
    Event::new(command, event).serial(&ca.serial).detail(detail)
}
