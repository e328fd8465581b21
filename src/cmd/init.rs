//! `pki init`: create the root CA.

use crate::audit;
use crate::certinfo::CertInfo;
use crate::cmd::{shown, Ctx};
use crate::error::{Error, Result};
use crate::json;
use crate::keys::{KeyFormat, KeyType, PrivateKey};
use crate::names;
use crate::profile::{self, Signer, DEFAULT_CA_DAYS, MAX_DAYS};
use crate::store::{CaEntry, Index, Store};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki init\n  pki --dir /etc/pki/ephemeral-store init --cn asp-root --days 1825\n  pki init --crl-url http://crl.example.internal/rootCA.crl\n  pki init --encrypt --passphrase-file /run/secrets/pki-pass   # CA key encrypted at rest"
)]
pub struct Args {
    /// Common Name of the root CA (the deployment documentation uses rootCA).
    #[arg(long, default_value = "rootCA")]
    pub cn: String,
    /// Key algorithm. The ephemeral store's TLS stack needs RSA.
    #[arg(long, value_enum, default_value_t = KeyType::Rsa2048)]
    pub key_type: KeyType,
    /// Lifetime in days (10 years: CA rotation should be rare and planned).
    #[arg(long, default_value_t = DEFAULT_CA_DAYS, value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
    pub days: u32,
    /// How the CA key is written: native (PKCS#1 for RSA, SEC1 for EC) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Replace an existing CA. The old CA and every certificate it signed
    /// stay in the store's history; users must be issued anew.
    #[arg(long)]
    pub force: bool,
    /// CRL distribution point (an http:// URL: the only kind Riak fetches) put
    /// into every certificate issued from now on; see docs/revocation.md.
    #[arg(long, value_name = "URL")]
    pub crl_url: Option<String>,
    /// Keep the CA key encrypted at rest (PKCS#8, scrypt, AES-256-CBC; `openssl pkey` reads it)
    /// under the passphrase of --passphrase-file, or one typed twice at the terminal.
    /// Commands that sign (issue, sign, crl, rotate) and exports of the CA key then need it.
    #[arg(long, conflicts_with = "key_format")]
    pub encrypt: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    names::validate_ca_cn(&a.cn)?;
    if let Some(url) = &a.crl_url {
        crate::cmd::config::check_crl_url(url)?;
    }
    if ctx.store.dir.exists() && !ctx.store.dir.is_dir() {
        return Err(Error::input(
            format!("{} exists and is not a directory", ctx.store.dir.display()),
            "choose another --dir (or PKI_DIR), or move that file away",
        ));
    }
    // Refuse before creating anything when a CA exists and --force is absent.
    if ctx.store.exists() && !a.force {
        ctx.store.read_index()?.ca(&ctx.store)?;
        return Err(existing(&ctx.store));
    }
    // Ask for the passphrase before anything is created, so a bad one changes nothing.
    let pass = ctx.store.passphrase.for_new_key(a.encrypt)?;
    crate::fsutil::private_dir(&ctx.store.dir)?;
    let _lock = ctx.store.lock(ctx.wait)?;
    let mut index = if ctx.store.exists() {
        ctx.store.read_index()?
    } else {
        Index::new()
    };
    if index.ca.is_some() && !a.force {
        return Err(existing(&ctx.store));
    }
    if !a.key_type.is_rsa() {
        ctx.warn(format!(
            "a {} CA cannot serve the ASP ephemeral store, whose TLS stack needs RSA; export marathon will refuse it",
            a.key_type
        ));
    }

    let (entry, _signer) = create_ca(
        ctx,
        &index,
        &a.cn,
        a.key_type,
        a.days,
        a.key_format,
        pass.as_ref(),
    )?;
    let (cert_rel, key_rel) = (entry.cert.clone(), entry.key.clone());
    if let Some(url) = &a.crl_url {
        index.settings.crl_url = Some(url.clone());
    }
    let retired = index.replace_ca(entry);
    ctx.store.write_index(&index)?;
    crate::audit::record(
        &ctx.store,
        ctx,
        ca_event("init", "ca-created", &index, retired),
    )?;

    let ca = index.ca.as_ref().expect("just set");
    if ctx.json {
        ctx.emit_json(&json::InitDoc {
            version: json::VERSION,
            ca: json::CaSummary::new(ca, ctx.now),
            cert_path: shown(ctx, &cert_rel).display().to_string(),
            key_path: shown(ctx, &key_rel).display().to_string(),
        })?;
    }
    ctx.say(format!(
        "created root CA {:?} ({}, serial {}, valid until {}) in {}",
        a.cn,
        a.key_type,
        ca.serial,
        crate::certinfo::rfc3339(ca.not_after),
        ctx.store.dir.display()
    ));
    if retired > 0 {
        ctx.say(format!(
            "the previous CA and its {retired} user certificate(s) are kept in history; issue users again with `pki issue USER...` and redeploy the env"
        ));
    }
    Ok(())
}

/// Make a root CA: key, self-signed certificate, both files written (never
/// replacing; the key encrypted under `pass` when given). Returns its index
/// entry and a signer; the caller puts the entry into the index and writes
/// the index (`init`, `rotate --ca`).
pub fn create_ca(
    ctx: &Ctx,
    index: &Index,
    cn: &str,
    key_type: KeyType,
    days: u32,
    format: KeyFormat,
    pass: Option<&zeroize::Zeroizing<Vec<u8>>>,
) -> Result<(CaEntry, Signer)> {
    let key = PrivateKey::generate(key_type)?;
    let serial = loop {
        let s = profile::random_serial()?;
        if !index.serial_in_use(&profile::hex(&s)) {
            break s;
        }
    };
    let (not_before, not_after) = profile::validity(ctx.now, days);
    let der = profile::self_sign(
        &profile::ca_params(cn, &serial, not_before, not_after),
        &key,
    )?;
    let info = CertInfo::from_der(&der, "the new CA certificate")?;
    let entry = ctx
        .store
        .write_ca(&info, &der, &key, format, pass, ctx.now)?;
    Ok((entry, Signer::new(der, key)?))
}

/// The audit event of a new current CA (init, import, rotate --ca).
pub fn ca_event(command: &str, event: &str, index: &Index, retired: usize) -> audit::Event {
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
    audit::Event::new(command, event)
        .serial(&ca.serial)
        .detail(detail)
}

/// The refusal when a store already holds a CA (exit 4).
pub fn existing(store: &Store) -> Error {
    Error::refused(
        format!("{} already holds a root CA", store.dir.display()),
        "pass --force to replace it (the old CA stays in history), or use another --dir",
    )
}
