//! `pki init`: create the root CA.

use crate::ca::{create_ca, install_ca, NewCa};
use crate::cmd::{shown, Ctx};
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::Kind;
use crate::x509::keys::{KeyFormat, KeyType};
use crate::x509::names;
use crate::x509::profile::DEFAULT_CA_DAYS;

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
    #[arg(long, default_value_t = DEFAULT_CA_DAYS, value_parser = crate::x509::profile::Days)]
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
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

/// What a store without a CRL URL means for Riak (docs/quickstart.md).
pub const NO_CRL_URL: &str = "no --crl-url: Riak's check_crl (on by default) refuses every login (no_crl) until a CRL is published at a URL the certificates name; pass --crl-url URL, or run the store with check_crl off (docs/quickstart.md)";

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    names::validate_ca_cn(&a.cn)?;
    if let Some(url) = &a.crl_url {
        crate::x509::profile::check_crl_url(url)?;
    }
    ctx.store.refuse_file()?;
    // Refuse before creating anything when a CA exists and --force is absent.
    if ctx.store.exists()? && !a.force {
        ctx.store.read_index()?.ca(&ctx.store)?;
        // `init` then `init --crl-url URL` (docs/quickstart.md in order):
        // the URL is a setting of the CA there, not a reason to replace it.
        if let Some(url) = &a.crl_url {
            return Err(Error::Refused {
                msg: format!("{} already holds a root CA", ctx.store.name().display()),
                hint: format!(
                    "to set its CRL URL run `pki config set crl-url {url}` (certificates issued from then on name it); --force would replace the CA"
                ),
            });
        }
        return Err(Error::CaExists {
            dir: ctx.store.name(),
        });
    }
    // Ask for the passphrase before anything is created, so a bad one changes nothing.
    let pass = ctx.passphrase.for_new_key(a.encrypt)?;
    ctx.store.make_room()?;
    ctx.warn_all(crate::ca::issue::non_rsa_ca_warning(a.key_type));
    let (index, retired) = ctx.store.transact_new(ctx.wait, ctx.now, |tx| {
        if tx.index.ca.is_some() && !a.force {
            return Err(Error::CaExists {
                dir: tx.store.name(),
            });
        }
        crate::ca::rollover::refuse_during(&tx.index)?;
        let new = NewCa {
            cn: &a.cn,
            key_type: a.key_type,
            days: a.days,
            format: a.key_format,
            pass: pass.as_ref(),
        };
        let (entry, _signer) = create_ca(tx.store, &tx.index, &new, tx.now)?;
        if let Some(url) = &a.crl_url {
            tx.index.settings.crl_url = Some(url.clone());
        }
        let (retired, ev) = install_ca(&mut tx.index, entry, "init", Kind::CaCreated, 0);
        tx.record(ev);
        Ok((tx.index.clone(), retired))
    })?;
    let ca = index.ca.as_ref().expect("just set");
    if ctx.json {
        ctx.emit_json(&json::InitDoc {
            version: json::VERSION,
            ca: crate::cmd::ca_summary(ca, ctx.now),
            cert_path: shown(ctx, &ca.cert).display().to_string(),
            key_path: shown(ctx, &ca.key).display().to_string(),
        })?;
    }
    ctx.say(format!(
        "created root CA {:?} ({}, serial {}, valid until {}) in {}",
        a.cn,
        a.key_type,
        ca.serial,
        crate::x509::cert::rfc3339(ca.not_after),
        ctx.store.name().display()
    ));
    if index.settings.crl_url.is_none() {
        ctx.warn(NO_CRL_URL);
    }
    ctx.say_all(crate::ca::retired_note(retired));
    Ok(())
}
