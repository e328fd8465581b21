//! `pki crl`: a certificate revocation list signed by the store's CA.
//!
//! X.509 v2 CRL (RFC 5280 5): CRL number (one more than the last, kept in
//! the index), authority key identifier (the CA's own subject key
//! identifier when it has one), thisUpdate now and nextUpdate `--days`
//! later, and every revoked certificate of the current CA with its
//! revocation time and reason. Each CRL is kept in the store as
//! `crl/<number>.crl`; `--out` writes a copy for the web server Riak
//! fetches it from (docs/revocation.md).

use std::path::PathBuf;

use time::Duration;

use crate::ca::checks::check_ca_valid;
use crate::ca::revoke::crl_entry;
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::{Event, Kind};
use crate::store::fs::{self, Replace, PUBLIC_MODE};
use crate::store::CrlRecord;
use crate::x509::cert::{rfc3339, whole_seconds};
use crate::x509::crl::{crl_pem, holds_crl, make_crl, Reason};

/// 30 days: OpenSSL's `default_crl_days`. Riak refuses a CRL past its
/// nextUpdate, so `pki crl` must run (from cron) well within this.
pub const DEFAULT_CRL_DAYS: u32 = 30;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki crl > rootCA.crl.pem\n  pki crl --out /srv/www/crl/rootCA.crl --format der --days 7\n  openssl crl -in rootCA.crl.pem -noout -text\n\nRun it from cron well before nextUpdate, and after every `pki revoke`."
)]
pub struct Args {
    /// Days until nextUpdate: Riak refuses the CRL after that, so publish a new one before.
    #[arg(long, default_value_t = DEFAULT_CRL_DAYS, value_parser = crate::x509::profile::Days)]
    pub days: u32,
    /// Also write the CRL to FILE (replaced atomically if it holds a CRL already); default: stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Encoding of --out and stdout: pem, or der (the form RFC 5280 names for http; needs --out).
    #[arg(long, value_enum, default_value_t = Encoding::Pem)]
    pub format: Encoding,
    /// Replace an --out file that does not hold a CRL.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    Pem,
    Der,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    // DER is binary: fine into a pipe or a file, not onto a terminal.
    if a.format == Encoding::Der
        && a.out.is_none()
        && !ctx.json
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return Err(Error::usage(
            "--format der writes binary and stdout is a terminal",
            "add --out FILE, or redirect stdout (pki crl --format der > rootCA.crl)",
        ));
    }
    if let Some(out) = &a.out {
        if out.is_dir() {
            return Err(Error::input(
                format!("{} is a directory", out.display()),
                "give a file name for --out, e.g. --out /srv/crl/rootCA.crl",
            ));
        }
        // Checked before CRL #N is made and recorded: a missing directory
        // is a mistake in the command line, and nothing is changed for it.
        if let Some(parent) = fs::missing_parent(out) {
            return Err(Error::input(
                format!(
                    "--out {}: the directory {} does not exist",
                    out.display(),
                    parent.display()
                ),
                format!(
                    "create it first (mkdir -p {}), or choose another --out; no CRL was made",
                    parent.display()
                ),
            ));
        }
        if out.exists() && !a.force && !holds_crl(out) {
            return Err(Error::refused(
                format!("{} exists and does not hold a CRL", out.display()),
                "pass --force to replace it, or choose another --out",
            ));
        }
    }
    let (number, this_update, next_update, der, pem_text, rel, index) =
        ctx.store.transact(ctx.wait, ctx.now, |tx| {
            let ca = tx.index.ca(tx.store)?.clone();
            check_ca_valid(ca.not_before, ca.not_after, tx.now)?;
            let number = tx.index.crl.as_ref().map_or(1, |c| c.number + 1);
            // The CRL carries whole seconds; the index keeps the instant, so
            // that a revocation later in the same second is seen as newer.
            let this_update = whole_seconds(tx.now);
            let next_update = this_update + Duration::days(a.days.into());
            let signer = crate::ca::key::signer(tx.store, &tx.index, &ctx.passphrase)?;
            let revoked = tx
                .index
                .revoked_by(&ca)
                .map(crl_entry)
                .collect::<Result<Vec<_>>>()?;
            let der = make_crl(&signer, &revoked, number, this_update, next_update)?;
            let pem_text = crl_pem(&der);
            let rel = PathBuf::from(format!("crl/{number}.crl"));
            tx.store
                .write_file(&tx.index, &rel, pem_text.as_bytes(), PUBLIC_MODE)?;
            tx.index.crl = Some(CrlRecord {
                number,
                ca_serial: ca.serial.clone(),
                this_update: tx.now,
                next_update,
                path: rel.clone(),
            });
            tx.record(
                Event::new("crl", Kind::CrlSigned)
                    .serial(&ca.serial)
                    .detail(format!(
                        "CRL number {number}, next update {}",
                        rfc3339(next_update)
                    )),
            );
            Ok((
                number,
                this_update,
                next_update,
                der,
                pem_text,
                rel,
                tx.index.clone(),
            ))
        })?;
    let ca = index.ca(&ctx.store)?;

    let bytes: &[u8] = match a.format {
        Encoding::Pem => pem_text.as_bytes(),
        Encoding::Der => &der,
    };
    if let Some(out) = &a.out {
        // CRL #N is made and recorded by now: say so, and where it is.
        fs::write_atomic(out, bytes, PUBLIC_MODE, Replace::Allow).map_err(|e| Error::Failed {
            msg: format!(
                "CRL #{number} was made and kept in the store as {}, but could not be copied to {}: {}",
                ctx.store.path(&rel).display(),
                out.display(),
                crate::error::one_line(&e)
            ),
            hint: format!(
                "fix that and run `pki crl --out {}` again (it makes CRL #{})",
                out.display(),
                number + 1
            ),
        })?;
    }
    let revoked: Vec<json::Revoked> = index
        .revoked_by(ca)
        .map(|c| {
            let e = crl_entry(c)?;
            Ok(json::Revoked {
                user: c.user.clone(),
                serial: c.serial.to_string(),
                revoked_at: rfc3339(e.at),
                reason: e.reason.unwrap_or(Reason::Unspecified).name().into(),
            })
        })
        .collect::<Result<_>>()?;
    let n = revoked.len();
    if ctx.json {
        ctx.emit_json(&json::CrlDoc {
            version: json::VERSION,
            crl_number: number,
            this_update: rfc3339(this_update),
            next_update: rfc3339(next_update),
            path: ctx.store.path(&rel).display().to_string(),
            out: a.out.as_ref().map(|p| p.display().to_string()),
            crl_url: index.settings.crl_url.clone(),
            pem: pem_text.clone(),
            revoked,
        })?;
    } else if a.out.is_none() {
        match a.format {
            Encoding::Pem => ctx.data(&pem_text)?,
            Encoding::Der => ctx.data_bytes(&der)?,
        }
    }
    ctx.say(format!(
        "CRL #{number} lists {n} revoked certificate(s); next update {} ({}){}",
        rfc3339(next_update),
        ctx.store.path(&rel).display(),
        a.out
            .as_ref()
            .map(|p| format!(", copied to {}", p.display()))
            .unwrap_or_default()
    ));
    match &index.settings.crl_url {
        Some(url) => ctx.say(format!("publish it at {url} before {}", rfc3339(next_update))),
        None => ctx.warn("certificates carry no CRL distribution point, so Riak will not fetch this CRL; see `pki config set crl-url`"),
    }
    Ok(())
}
