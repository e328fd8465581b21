//! `pki import`: adopt an existing root CA (for instance one made with the
//! deployment's documented openssl commands), or bring an existing user
//! certificate into the index so `list` and `rotate` see it.
//!
//! Everything is read and checked before the store is touched: a refusal
//! leaves the store byte for byte as it was.

use std::path::{Path, PathBuf};

use crate::ca::checks::{ca_problem, chain_problem};
use crate::ca::install_ca;
use crate::ca::issue::{refuse_ca_key, refuse_existing, write_and_record};
use crate::ca::key::{key_pem, read_key_file};
use crate::cmd::{shown, Ctx};
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::{Event, Kind};
use crate::store::{fs, Index, Store};
use crate::x509::cert::{rfc3339, CertInfo};
use crate::x509::keys::{KeyFormat, PrivateKey};
use crate::x509::names;
use crate::x509::serial::Serial;

const AFTER_HELP: &str = "\
Examples:
  pki import --cert rootCA.crt --key rootCA.key
  pki import --cert rootCA.crt --key rootCA.enc.key --passphrase-file pass.txt
  pki import --cert new-root.crt --key new-root.key --force    # replace the store's CA
  pki import --user myuser --cert myuser.crt --key myuser.key

The CA may be X.509 v1 (what the documented openssl commands make) or v3 with
basicConstraints CA:TRUE. Keys may be PKCS#8 (BEGIN PRIVATE KEY), PKCS#1
(BEGIN RSA PRIVATE KEY), SEC1, or encrypted PKCS#8 (BEGIN ENCRYPTED PRIVATE
KEY) with --passphrase-file. The key is stored in the native form (PKCS#1 for
RSA), mode 0600. See docs/migrating.md.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The certificate to import (PEM): the root CA, or with --user that user's certificate.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Its private key (PEM). Required for a CA; optional for a user (the owner may hold it).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Keep the CA key encrypted in the store (PKCS#8, scrypt, AES-256-CBC)
    /// under the passphrase of --passphrase-file or one typed at the terminal.
    /// An encrypted key is kept encrypted under its own passphrase without it.
    #[arg(long, conflicts_with_all = ["user", "key_format"])]
    pub encrypt: bool,
    /// Store an encrypted CA key decrypted (by default it stays encrypted, under the same passphrase).
    #[arg(long, conflicts_with_all = ["user", "encrypt"])]
    pub decrypt: bool,
    /// Import a user certificate for USER (CN must equal USER) instead of a CA.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// How the key is written into the store: native (PKCS#1 for RSA, SEC1 for EC) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Replace the store's CA (it moves to history and its users must be
    /// issued anew), or a user's current certificate.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    match a.user.clone() {
        Some(user) => import_user(ctx, &a, &user),
        None => import_ca(ctx, &a),
    }
}

/// Refuse a key whose public half is not the certificate's.
fn check_key_matches(
    key: &PrivateKey,
    info: &CertInfo,
    key_path: &Path,
    cert_path: &Path,
) -> Result<()> {
    if key.public_key_der()? != info.spki_der {
        return Err(Error::input(
            format!(
                "the key {} does not belong to the certificate {}",
                key_path.display(),
                cert_path.display()
            ),
            "give the key the certificate was made for (compare `openssl x509 -noout -pubkey` with `openssl pkey -pubout`)",
        ));
    }
    Ok(())
}

/// Read and check a certificate file; returns its DER and what it says.
fn read_cert(path: &Path) -> Result<(Vec<u8>, CertInfo)> {
    let what = path.display().to_string();
    let text = fs::read_input_text(path)?;
    let der = crate::x509::cert::pem_to_der(&text, &what)?;
    let info = CertInfo::from_der(&der, &what)?;
    // The subject goes into the index and onto every terminal that lists it.
    for (field, v) in [("subject", &info.subject), ("issuer", &info.issuer)] {
        if let Some(c) = names::control_char(v) {
            return Err(Error::input(
                format!("the {field} of {what} contains {c}"),
                "pki keeps only names of plain text: re-issue the certificate with one",
            ));
        }
    }
    if info.serial.is_zero() {
        return Err(Error::input(
            format!("{what} has serial number 0, which RFC 5280 forbids"),
            "re-issue it with a positive serial number",
        ));
    }
    if let Some(why) = crate::x509::cert::serial_problem(&der) {
        return Err(Error::input(
            format!("{what} {why}"),
            "re-issue it with a positive serial number of at most 20 octets (`openssl req -x509` makes one)",
        ));
    }
    Ok((der, info))
}

fn import_ca(ctx: &Ctx, a: &Args) -> Result<()> {
    let key_path = a.key.as_deref().ok_or_else(|| {
        Error::usage(
            "importing a CA needs its private key",
            "pass --key CA.key (or --user USER to import a user certificate)",
        )
    })?;
    let (der, info) = read_cert(&a.cert)?;
    let what = a.cert.display().to_string();
    if let Some((why, hint)) = ca_problem(&der, ctx.now) {
        return Err(Error::input(format!("{what} {why}"), hint));
    }
    let key = read_key_file(key_path, &ctx.passphrase)?;
    check_key_matches(&key, &info, key_path, &a.cert)?;
    // An encrypted key stays encrypted, under the passphrase it came with,
    // unless --decrypt says otherwise; a plain one is encrypted with --encrypt.
    let came_encrypted = crate::x509::secret::is_encrypted(&fs::read_input_text(key_path)?);
    let (pass, how) = match (came_encrypted, a.decrypt, a.encrypt) {
        (true, false, _) => (
            Some(ctx.passphrase.existing(&key_path.display().to_string())?),
            "the CA key stays encrypted, under the passphrase it came with",
        ),
        (true, true, _) => (
            None,
            "the CA key is stored decrypted (--decrypt), mode 0600",
        ),
        (false, _, true) => (
            ctx.passphrase.for_new_key(true)?,
            "the CA key is stored encrypted (--encrypt)",
        ),
        (false, _, false) => (
            None,
            "the CA key is stored as it came, unencrypted, mode 0600 (--encrypt encrypts it)",
        ),
    };
    ctx.store.refuse_file()?;
    // Refuse before creating anything when a CA exists and --force is absent.
    if ctx.store.exists()? {
        let index = ctx.store.read_index()?;
        if check_ca_replaceable(&ctx.store, &index, &info, a.force)? {
            return already(ctx, &index);
        }
    }
    ctx.store.make_room()?;
    let (index, retired) = ctx.store.transact_new(ctx.wait, ctx.now, |tx| {
        if check_ca_replaceable(tx.store, &tx.index, &info, a.force)? {
            return Ok((tx.index.clone(), None));
        }
        crate::ca::rollover::refuse_during(&tx.index)?;
        ctx.warn_all(crate::ca::issue::non_rsa_ca_warning(key.key_type()));
        if !info.key_usage.is_empty() && !info.key_usage.iter().any(|k| k == "cRLSign") {
            ctx.warn(
                "the CA's keyUsage lacks cRLSign: `pki crl` cannot sign revocation lists with it",
            );
        }
        let pem = key_pem(&key, a.key_format, pass.as_ref())?;
        let entry = tx
            .store
            .write_ca(&tx.index, &info, &der, &pem, pass.is_some(), tx.now)?;
        let (retired, ev) = install_ca(&mut tx.index, entry, "import", Kind::CaImported, 0);
        tx.record(ev);
        Ok((tx.index.clone(), Some(retired)))
    })?;
    let Some(retired) = retired else {
        return already(ctx, &index);
    };
    let ca = index.ca.as_ref().expect("just set");
    if ctx.json {
        ctx.emit_json(&json::ImportCaDoc {
            version: json::VERSION,
            ca: crate::cmd::ca_summary(ca, ctx.now),
            x509_version: info.version,
            cert_path: shown(ctx, &ca.cert).display().to_string(),
            key_path: shown(ctx, &ca.key).display().to_string(),
            retired_certificates: retired,
            key_encrypted: ca.encrypted,
            nothing_to_do: false,
        })?;
    }
    ctx.say(format!(
        "imported root CA {} (X.509 v{}, {}, serial {}, valid until {}) into {}",
        ca.subject,
        info.version,
        ca.key_type,
        ca.serial,
        rfc3339(ca.not_after),
        ctx.store.name().display()
    ));
    ctx.say(how);
    ctx.say_all(crate::ca::retired_note(retired));
    Ok(())
}

/// Refuse to replace a CA without --force, and refuse a certificate whose
/// serial the store already uses. Ok(true): this very CA is already current.
fn check_ca_replaceable(
    store: &Store,
    index: &Index,
    info: &CertInfo,
    force: bool,
) -> Result<bool> {
    if let Some(ca) = &index.ca {
        if ca.fingerprint_sha256 == info.fingerprint_sha256 {
            return Ok(true);
        }
        if !force {
            return Err(Error::CaExists { dir: store.name() });
        }
    }
    serial_free(index, &info.serial)?;
    Ok(false)
}

/// Refuse (exit 4) a serial the store already knows: the certificate is in already.
fn serial_free(index: &Index, serial: &Serial) -> Result<()> {
    if index.serial_in_use(serial) {
        return Err(Error::refused(
            format!("the store already has a certificate with serial {serial}"),
            "it was imported or issued before; see `pki list --all`",
        ));
    }
    Ok(())
}

fn already(ctx: &Ctx, index: &Index) -> Result<()> {
    let ca = index.ca(&ctx.store)?;
    ctx.say(format!(
        "{} already holds this CA (serial {}); nothing to do",
        ctx.store.name().display(),
        ca.serial
    ));
    if ctx.json {
        // Nothing to do is still an answer: the CA as it is.
        ctx.emit_json(&json::ImportCaDoc {
            version: json::VERSION,
            ca: crate::cmd::ca_summary(ca, ctx.now),
            x509_version: crate::x509::cert::CertInfo::from_der(
                &ctx.store.read_cert_der(&ca.cert)?,
                "the store's CA certificate",
            )?
            .version,
            cert_path: shown(ctx, &ca.cert).display().to_string(),
            key_path: shown(ctx, &ca.key).display().to_string(),
            retired_certificates: 0,
            key_encrypted: ca.encrypted,
            nothing_to_do: true,
        })?;
    }
    Ok(())
}

fn import_user(ctx: &Ctx, a: &Args, user: &str) -> Result<()> {
    names::validate_user(user)?;
    let (der, info) = read_cert(&a.cert)?;
    let what = a.cert.display().to_string();
    if info.common_names.len() != 1 || info.common_names[0] != user {
        return Err(Error::input(
            format!("{what} has CN {:?}, not {user:?}", info.common_names.join(", ")),
            "Riak takes the user name from the certificate's one Common Name; import it under that name",
        ));
    }
    if info.is_ca {
        return Err(Error::input(
            format!("{what} is a CA certificate"),
            "import a CA without --user: pki import --cert CA.crt --key CA.key",
        ));
    }
    if !info.extended_key_usage.is_empty()
        && !info
            .extended_key_usage
            .iter()
            .any(|e| e == "clientAuth" || e == "anyExtendedKeyUsage")
    {
        return Err(Error::input(
            format!(
                "{what} has extendedKeyUsage {} without clientAuth, so Riak would refuse it",
                info.extended_key_usage.join(", ")
            ),
            format!("issue a new certificate instead: pki issue {user}"),
        ));
    }
    let key = match &a.key {
        Some(p) => {
            let k = read_key_file(p, &ctx.passphrase)?;
            check_key_matches(&k, &info, p, &a.cert)?;
            Some(k)
        }
        None => None,
    };
    let index = ctx.store.read_index()?;
    let ca = index.ca(&ctx.store)?.clone();
    let ca_der = ctx.store.read_cert_der(&ca.cert)?;
    if let Some(why) = chain_problem(&der, &ca_der) {
        return Err(Error::input(
            format!("{what} {why}"),
            "import the CA that issued it first (pki import --cert CA.crt --key CA.key), or issue a new certificate",
        ));
    }
    let vendor = crate::ca::checks::vendor_warnings(&der, &ca_der, ctx.now);
    let issued = ctx.store.transact(ctx.wait, ctx.now, |tx| {
        serial_free(&tx.index, &info.serial)?;
        refuse_ca_key(tx.store, &tx.index, &info.spki_der, &what)?;
        if !a.force {
            refuse_existing(&tx.index, [user])?;
        }
        if info.not_after <= tx.now {
            ctx.warn(format!(
                "{user}: the certificate expired on {}; `pki rotate` will re-issue it",
                rfc3339(info.not_after)
            ));
        }
        let issued = write_and_record(
            tx,
            user,
            &info,
            &der,
            &ca.serial,
            key.as_ref().map(|k| (k, a.key_format)),
        )?;
        let what = if key.is_some() {
            "with its key"
        } else {
            "certificate only"
        };
        tx.record(
            Event::new("import", Kind::Imported)
                .user(user)
                .serial(&info.serial)
                .detail(match &issued.replaced_serial {
                    Some(old) => format!("{what}; replaces serial {old}"),
                    None => what.to_string(),
                }),
        );
        Ok(issued)
    })?;
    ctx.warn_all(vendor.iter().map(|w| format!("{user}: {w}")));
    ctx.say(format!(
        "imported {user} (serial {}, valid until {}){}",
        issued.info.serial,
        crate::x509::cert::rfc3339(issued.info.not_after),
        if key.is_none() {
            "; its key is not in the store"
        } else {
            ""
        }
    ));
    if ctx.json {
        ctx.emit_json(&json::IssueDoc {
            version: json::VERSION,
            issued: vec![crate::cmd::issued_doc(&issued)],
        })?;
    }
    Ok(())
}
