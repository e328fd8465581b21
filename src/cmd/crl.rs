//! `pki crl`: a certificate revocation list signed by the store's CA.
//!
//! X.509 v2 CRL (RFC 5280 5): CRL number (one more than the last, kept in
//! the index), authority key identifier (the CA's own subject key
//! identifier when it has one), thisUpdate now and nextUpdate `--days`
//! later, and every revoked certificate of the current CA with its
//! revocation time and reason. Each CRL is kept in the store as
//! `crl/<number>.crl`; `--out` writes a copy for the web server Riak
//! fetches it from (docs/revocation.md). During a rollover the other CA
//! gets its own CRL too, signed by it, kept as `crl/<number>-<serial>.crl`
//! and written where its own URL points (docs/rollover.md).

use std::path::{Path, PathBuf};

use time::Duration;

use crate::ca::checks::check_ca_valid;
use crate::ca::revoke::{crl_cas, crl_entry, crl_url_of, own_crl_url};
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::{Event, Kind};
use crate::store::fs::{self, Replace, PUBLIC_MODE};
use crate::store::{CaEntry, CrlRecord, Index};
use crate::x509::cert::{rfc3339, whole_seconds};
use crate::x509::crl::{crl_pem, holds_crl, make_crl, Reason};
use crate::x509::profile::per_ca_name;
use crate::x509::serial::Serial;

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

/// One CRL made: by which CA, its bytes, where the store keeps it.
struct Made {
    ca: CaEntry,
    der: Vec<u8>,
    pem_text: String,
    rel: PathBuf,
}

/// Where `--out FILE` puts CA `ca_serial`'s CRL: FILE itself, or for a CA
/// with a CRL URL of its own, FILE named as its URL is (the serial before
/// the extension), so one directory published at the URLs' directory
/// serves every CA's CRL at the URL its certificates name.
fn out_path(index: &Index, out: &Path, ca_serial: &Serial) -> PathBuf {
    if own_crl_url(index, ca_serial) {
        PathBuf::from(per_ca_name(&out.to_string_lossy(), ca_serial))
    } else {
        out.to_path_buf()
    }
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
    // Read unlocked to name the --out files (one per CA) and refuse early;
    // the transaction reads the index again under the lock.
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
        // A store that cannot be read fails in the transaction, as before.
        let outs = match ctx.store.read_index() {
            Ok(ix) => crl_cas(&ix, ctx.now)
                .into_iter()
                .map(|(ca, _)| out_path(&ix, out, &ca.serial))
                .collect(),
            Err(_) => vec![out.clone()],
        };
        for out in outs {
            if out.exists() && !a.force && !holds_crl(&out) {
                return Err(Error::refused(
                    format!("{} exists and does not hold a CRL", out.display()),
                    "pass --force to replace it, or choose another --out",
                ));
            }
        }
    }
    let (number, this_update, next_update, made, index) =
        ctx.store.transact(ctx.wait, ctx.now, |tx| {
            let ca = tx.index.ca(tx.store)?.clone();
            check_ca_valid(ca.not_before, ca.not_after, tx.now)?;
            // One number for the CRLs made together: each CA's numbers
            // still only grow (RFC 5280 5.2.3).
            let other_crl = tx.index.rollover.as_ref().and_then(|r| r.crl.as_ref());
            let number = tx
                .index
                .crl
                .iter()
                .chain(other_crl)
                .map(|c| c.number)
                .max()
                .map_or(1, |n| n + 1);
            // The CRL carries whole seconds; the index keeps the instant, so
            // that a revocation later in the same second is seen as newer.
            let this_update = whole_seconds(tx.now);
            let next_update = this_update + Duration::days(a.days.into());
            let cas: Vec<CaEntry> = crl_cas(&tx.index, tx.now)
                .into_iter()
                .map(|(c, _)| c.clone())
                .collect();
            let mut made = Vec::new();
            for (i, ca) in cas.iter().enumerate() {
                // Each CRL is signed by the CA whose certificates it lists.
                let signer = match i {
                    0 => crate::ca::key::signer(tx.store, &tx.index, &ctx.passphrase)?,
                    _ => crate::ca::key::signer_for(tx.store, ca, &ctx.passphrase)?,
                };
                let revoked = tx
                    .index
                    .revoked_by(ca)
                    .map(crl_entry)
                    .collect::<Result<Vec<_>>>()?;
                let der = make_crl(&signer, &revoked, number, this_update, next_update)?;
                let pem_text = crl_pem(&der);
                let rel = PathBuf::from(match i {
                    0 => format!("crl/{number}.crl"),
                    _ => format!("crl/{number}-{}.crl", ca.serial),
                });
                tx.store
                    .write_file(&tx.index, &rel, pem_text.as_bytes(), PUBLIC_MODE)?;
                let record = CrlRecord {
                    number,
                    ca_serial: ca.serial.clone(),
                    this_update: tx.now,
                    next_update,
                    path: rel.clone(),
                };
                match tx.index.rollover.as_mut() {
                    Some(r) if i > 0 => r.crl = Some(record),
                    _ => tx.index.crl = Some(record),
                }
                tx.record(
                    Event::new("crl", Kind::CrlSigned)
                        .serial(&ca.serial)
                        .detail(format!(
                            "CRL number {number}, next update {}",
                            rfc3339(next_update)
                        )),
                );
                made.push(Made {
                    ca: ca.clone(),
                    der,
                    pem_text,
                    rel,
                });
            }
            Ok((number, this_update, next_update, made, tx.index.clone()))
        })?;
    let mine = &made[0];

    let mut outs = Vec::new();
    if let Some(out) = &a.out {
        for m in &made {
            let path = out_path(&index, out, &m.ca.serial);
            if outs.contains(&path) {
                // A rollover started before CRLs had a URL per CA: its two
                // CAs' certificates name one URL, which can serve only one.
                ctx.warn(format!(
                    "the CRL of CA serial {} is not copied to {}: both CAs' certificates name that one URL; finish the rollover",
                    m.ca.serial,
                    path.display()
                ));
                outs.push(PathBuf::new());
                continue;
            }
            let bytes: &[u8] = match a.format {
                Encoding::Pem => m.pem_text.as_bytes(),
                Encoding::Der => &m.der,
            };
            // CRL #N is made and recorded by now: say so, and where it is.
            fs::write_atomic(&path, bytes, PUBLIC_MODE, Replace::Allow).map_err(|e| {
                Error::Failed {
                    msg: format!(
                        "CRL #{number} was made and kept in the store as {}, but could not be copied to {}: {}",
                        ctx.store.path(&m.rel).display(),
                        path.display(),
                        crate::error::one_line(&e)
                    ),
                    hint: format!(
                        "fix that and run `pki crl --out {}` again (it makes CRL #{})",
                        out.display(),
                        number + 1
                    ),
                }
            })?;
            outs.push(path);
        }
    }
    let revoked_of = |ca: &CaEntry| -> Result<Vec<json::Revoked>> {
        index
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
            .collect()
    };
    let revoked = revoked_of(&mine.ca)?;
    if ctx.json {
        ctx.emit_json(&json::CrlDoc {
            version: json::VERSION,
            crl_number: number,
            this_update: rfc3339(this_update),
            next_update: rfc3339(next_update),
            path: ctx.store.path(&mine.rel).display().to_string(),
            out: outs.first().map(|p| p.display().to_string()),
            crl_url: crl_url_of(&index, &mine.ca.serial),
            pem: mine.pem_text.clone(),
            revoked,
            other: match made.get(1) {
                Some(m) => Some(json::OtherCrlDoc {
                    ca_serial: m.ca.serial.to_string(),
                    path: ctx.store.path(&m.rel).display().to_string(),
                    out: outs
                        .get(1)
                        .filter(|p| !p.as_os_str().is_empty())
                        .map(|p| p.display().to_string()),
                    crl_url: crl_url_of(&index, &m.ca.serial),
                    pem: m.pem_text.clone(),
                    revoked: revoked_of(&m.ca)?,
                }),
                None => None,
            },
        })?;
    } else if a.out.is_none() {
        match a.format {
            Encoding::Pem => ctx.data(&mine.pem_text)?,
            Encoding::Der => ctx.data_bytes(&mine.der)?,
        }
    }
    for (i, m) in made.iter().enumerate() {
        let of = match i {
            0 => String::new(),
            _ => format!(" of the rollover's other CA (serial {})", m.ca.serial),
        };
        ctx.say(format!(
            "CRL #{number}{of} lists {} revoked certificate(s); next update {} ({}){}",
            index.revoked_by(&m.ca).count(),
            rfc3339(next_update),
            ctx.store.path(&m.rel).display(),
            outs.get(i)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| format!(", copied to {}", p.display()))
                .unwrap_or_default()
        ));
        if let Some(url) = crl_url_of(&index, &m.ca.serial) {
            ctx.say(format!(
                "publish it at {url} before {}",
                rfc3339(next_update)
            ));
        }
    }
    if index.settings.crl_url.is_none() {
        ctx.warn("certificates carry no CRL distribution point, so Riak will not fetch this CRL; see `pki config set crl-url`");
    }
    Ok(())
}
