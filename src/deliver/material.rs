//! The key material an export or deploy carries, read from the store:
//! which user ([`pick_user`]), the CA's certificate and key ([`ca_pem`],
//! [`env_for`]), the trust bundle, a user's certificate and key
//! ([`user_pem`]), and the users of `ASP_EPHEMERAL_STORE`
//! ([`asp_material`]), with the refusals they share (a revoked or unknown
//! user, a key not in the store, a CA or key that is not RSA). Warnings
//! come back as data ([`Pair::warnings`]).

use serde_json::{Map, Value};
use time::OffsetDateTime;
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
                    format!("the store {} has no users", store.name().display()),
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

/// The users named, each once, in order, with [`pick_user`]'s refusals.
pub fn pick_users<'a>(
    store: &Store,
    index: &'a Index,
    names: &[String],
) -> Result<Vec<&'a CertEntry>> {
    let mut picked: Vec<&CertEntry> = Vec::new();
    for name in names {
        let entry = pick_user(store, index, Some(name))?;
        if !picked.iter().any(|p| p.user == entry.user) {
            picked.push(entry);
        }
    }
    Ok(picked)
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
    now: OffsetDateTime,
) -> Result<(Map<String, Value>, Vec<String>)> {
    let ca = ca_pem(store, index, format, allow_non_rsa, pass, now)?;
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
    now: OffsetDateTime,
) -> Result<Pair> {
    let ca = index.ca(store)?;
    require_rsa(ca, allow_non_rsa)?;
    let cert = trust_bundle(store, index, now)?;
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

/// The CA certificates the store and its clients trust at `now`, as one
/// PEM text: the current CA, then during a rollover the other one, then
/// the unexpired earlier certificates of a renewed CA key
/// (`Index::trusted`, docs/rollover.md).
pub fn trust_bundle(store: &Store, index: &Index, now: OffsetDateTime) -> Result<String> {
    let mut out = String::new();
    for ca in index.trusted(now) {
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
#[allow(clippy::too_many_arguments)] // the store, what to read, the key form and the CA policy: each one a caller chooses
pub fn asp_material(
    store: &Store,
    index: &Index,
    names: &[String],
    remove: &[String],
    format: KeyFormat,
    allow_non_rsa: bool,
    pass: &Passphrase,
    now: OffsetDateTime,
) -> Result<asp::Material> {
    for r in remove {
        crate::x509::names::validate_user(r)?;
        if names.contains(r) {
            return Err(Error::usage(
                format!("{r} is given to both --user and --remove"),
                "name each user once: --user to set it, --remove to drop it",
            ));
        }
    }
    let ca = index.ca(store)?;
    require_rsa(ca, allow_non_rsa)?;
    let mut users = Vec::new();
    for entry in pick_users(store, index, names)? {
        let name = &entry.user;
        if !entry.key_type.is_rsa() && !allow_non_rsa {
            return Err(Error::input(
                format!("user {name:?} has a {} key, but the ASP's store client needs RSA", entry.key_type),
                format!("re-issue it with `pki rotate --force --key-type rsa-2048 {name}`, or pass --allow-non-rsa if you know better"),
            ));
        }
        let pair = user_pem(store, entry, format, pass)?;
        users.push((entry.user.clone(), entry.serial.to_string(), pair));
    }
    Ok(asp::Material {
        users,
        // During a CA rollover both CAs, so clients trust either (docs/rotation.md).
        root_ca: trust_bundle(store, index, now)?,
        retire: retired(index, remove),
    })
}

/// The users of `--all-users`: every user with a current certificate
/// whose key the store holds (one signed from a CSR cannot be sent).
pub fn all_users(index: &Index) -> Vec<String> {
    index
        .active_all()
        .filter(|c| c.key.is_some())
        .map(|c| c.user.clone())
        .collect()
}

/// What a merge of `ASP_EPHEMERAL_STORE` drops: each of `remove`, then
/// every user the store had certificates for but has no current one
/// (revoked, or superseded by nothing), so none stays in a controller
/// with a certificate the store refuses.
fn retired(index: &Index, remove: &[String]) -> Vec<asp::Retire> {
    let mut out: Vec<asp::Retire> = Vec::new();
    for r in remove {
        if !out.iter().any(|o| &o.name == r) {
            out.push(asp::Retire {
                name: r.clone(),
                why: None,
            });
        }
    }
    let current = index.current();
    let mut seen: std::collections::HashSet<&str> = index
        .active_all()
        .map(|a| a.user.as_str())
        .chain(remove.iter().map(String::as_str))
        .collect();
    for c in &index.certificates {
        if !seen.insert(c.user.as_str()) {
            continue;
        }
        let why = match current.iter().find(|x| x.user == c.user) {
            Some(x) if x.state == CertState::Revoked => {
                format!("it is revoked (serial {})", x.serial)
            }
            _ => "its certificate was superseded and it has no current one".to_string(),
        };
        out.push(asp::Retire {
            name: c.user.clone(),
            why: Some(why),
        });
    }
    out
}
