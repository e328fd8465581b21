//! The key material an export or deploy carries, read from the store:
//! which user ([`pick_user`]), the CA's certificate and key ([`ca_pem`],
//! [`env_for`]), the trust bundle, a user's certificate and key
//! ([`user_pem`]), and the users of `ASP_EPHEMERAL_STORE`
//! ([`asp_material`]), with the refusals they share (a revoked or unknown
//! user, a key not in the store, a CA or key that is not RSA). Warnings
//! come back as data ([`Pair::warnings`]).

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::ca::key::{ca_pair, read_store_key, Passphrase};
use crate::deliver::{asp, marathon};
use crate::error::{Error, Result};
use crate::store::{CaEntry, CertEntry, CertState, Index, Store};
use crate::x509::keys::KeyFormat;

/// A certificate and its key as PEM, and the warnings for the command to print.
pub struct Pair {
    pub cert: String,
    pub key: Zeroizing<String>,
    pub warnings: Vec<String>,
}

/// The user an export is for: the one named, or the store's only user.
pub fn pick_user<'a>(store: &Store, index: &'a Index, user: Option<&str>) -> Result<&'a CertEntry> {
    match user {
        Some(u) => {
            crate::x509::names::validate_user(u)?;
            match index.current().into_iter().find(|c| c.user == u) {
                Some(c) if c.state == CertState::Active => Ok(c),
                Some(_) => Err(Error::input(
                    format!("user {u:?} is revoked"),
                    "issue it anew with `pki issue`, or export another user",
                )),
                None => Err(Error::NoUser {
                    user: u.to_string(),
                }),
            }
        }
        None => {
            let active: Vec<&CertEntry> = index.active_all().collect();
            match active.as_slice() {
                [one] => Ok(one),
                [] => Err(Error::input(
                    format!("the store {} has no users", store.dir.display()),
                    "issue one first: pki issue myuser",
                )),
                many => Err(Error::usage(
                    format!("the store has {} users", many.len()),
                    format!("choose one with --user (e.g. --user {})", many[0].user),
                )),
            }
        }
    }
}

/// The Marathon env block for `user`, with the CA key in `format`, and
/// the warnings to print.
pub fn env_for(
    store: &Store,
    index: &Index,
    user: &str,
    format: KeyFormat,
    allow_non_rsa: bool,
    pass: &Passphrase,
) -> Result<(Map<String, Value>, Vec<String>)> {
    let ca = ca_pem(store, index, format, allow_non_rsa, pass)?;
    Ok((marathon::env_block(user, &ca.cert, &ca.key), ca.warnings))
}

/// The CA certificate and key (in `format`) as PEM; refuses a non-RSA CA
/// unless allowed, since the store's TLS stack needs RSA.
pub fn ca_pem(
    store: &Store,
    index: &Index,
    format: KeyFormat,
    allow_non_rsa: bool,
    pass: &Passphrase,
) -> Result<Pair> {
    let ca = index.ca(store)?;
    require_rsa(ca, allow_non_rsa)?;
    let cert = trust_bundle(store, index)?;
    let key = ca_pair(store, ca, pass)?.1.to_pem(format)?;
    let mut warnings = Vec::new();
    if ca.encrypted {
        warnings.push("the CA key is encrypted in the store, but this output carries it decrypted, in clear: anyone who can read it can mint users".to_string());
    }
    Ok(Pair {
        cert,
        key,
        warnings,
    })
}

/// The CA certificates the store and its clients trust, as one PEM text:
/// the current CA, then during a rollover the other one
/// (`Index::trusted`, docs/rollover.md).
pub fn trust_bundle(store: &Store, index: &Index) -> Result<String> {
    let mut out = String::new();
    for ca in index.trusted() {
        out.push_str(&store.read_text(&ca.cert)?);
    }
    Ok(out)
}

/// Refuse a non-RSA CA unless allowed: the store's TLS stack (Erlang R16,
/// the Node.js client's RSA-only cipher list) needs RSA.
pub fn require_rsa(ca: &CaEntry, allow_non_rsa: bool) -> Result<()> {
    if !ca.key_type.is_rsa() && !allow_non_rsa {
        return Err(Error::input(
            format!("the store's CA is {}, but the ephemeral store's TLS stack needs an RSA CA", ca.key_type),
            "create an RSA CA (pki init --force --key-type rsa-2048), or pass --allow-non-rsa if you know better",
        ));
    }
    Ok(())
}

/// A user's certificate and key (in `format`) as PEM; refuses when the key
/// is not in the store.
pub fn user_pem(
    store: &Store,
    entry: &CertEntry,
    format: KeyFormat,
    pass: &Passphrase,
) -> Result<Pair> {
    let key_rel = entry.key.as_ref().ok_or_else(|| {
        Error::input(
            format!(
                "the key of {} is not in the store (it was signed from a CSR)",
                entry.user
            ),
            "its owner holds the key",
        )
    })?;
    Ok(Pair {
        cert: store.read_text(&entry.cert)?,
        key: read_store_key(store, key_rel, pass)?.to_pem(format)?,
        warnings: Vec::new(),
    })
}

/// The material of `export asp` / `deploy asp`: the named users (each
/// once, in order) with the refusals of `export marathon`: unknown, revoked or badly named users, keys not
/// in the store (signed from a CSR), and, unless allowed, a CA or user
/// key that is not RSA (the Node.js client of the ASP offers RSA cipher
/// suites only).
pub fn asp_material(
    store: &Store,
    index: &Index,
    names: &[String],
    format: KeyFormat,
    allow_non_rsa: bool,
    pass: &Passphrase,
) -> Result<asp::Material> {
    let ca = index.ca(store)?;
    require_rsa(ca, allow_non_rsa)?;
    let mut users = Vec::new();
    for name in names {
        if users
            .iter()
            .any(|(u, _, _): &(String, String, Pair)| u == name)
        {
            continue;
        }
        let entry = pick_user(store, index, Some(name))?;
        if !entry.key_type.is_rsa() && !allow_non_rsa {
            return Err(Error::input(
                format!("user {name:?} has a {} key, but the ASP's store client needs RSA", entry.key_type),
                format!("re-issue it with `pki rotate --force --key-type rsa-2048 {name}`, or pass --allow-non-rsa if you know better"),
            ));
        }
        let pair = user_pem(store, entry, format, pass)?;
        users.push((entry.user.clone(), entry.serial.clone(), pair));
    }
    Ok(asp::Material {
        users,
        // During a CA rollover both CAs, so clients trust either (docs/rotation.md).
        root_ca: trust_bundle(store, index)?,
    })
}
