//! `pki crl`: a certificate revocation list signed by the store's CA.
//!
//! X.509 v2 CRL (RFC 5280 5): CRL number (one more than the last, kept in
//! the index), authority key identifier (the CA's own subject key
//! identifier when it has one), thisUpdate now and nextUpdate `--days`
//! later, and every revoked certificate of the current CA with its
//! revocation time and reason. Each CRL is kept in the store as
//! `crl/<number>.crl`; `--out` writes a copy for the web server Riak
//! fetches it from (docs/revocation.md).

use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};

use crate::certinfo::rfc3339;
use crate::cmd::revoke::Reason;
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::fsutil::{self, Replace, PUBLIC_MODE};
use crate::json;
use crate::profile::MAX_DAYS;
use crate::store::{CertState, CrlRecord, Index};

/// 30 days: OpenSSL's `default_crl_days`. Riak refuses a CRL past its
/// nextUpdate, so `pki crl` must run (from cron) well within this.
pub const DEFAULT_CRL_DAYS: u32 = 30;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki crl > rootCA.crl.pem\n  pki crl --out /srv/www/crl/rootCA.crl --format der --days 7\n  openssl crl -in rootCA.crl.pem -noout -text\n\nRun it from cron well before nextUpdate, and after every `pki revoke`."
)]
pub struct Args {
    /// Days until nextUpdate: Riak refuses the CRL after that, so publish a new one before.
    #[arg(long, default_value_t = DEFAULT_CRL_DAYS, value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    Pem,
    Der,
}

fn crl_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("X509 CRL", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Whether `path` already holds a CRL (PEM or DER), so replacing it is routine.
fn holds_crl(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let der = match pem::parse(&bytes) {
        Ok(p) if p.tag() == "X509 CRL" => p.into_contents(),
        Ok(_) => return false,
        Err(_) => bytes,
    };
    x509_parser::parse_x509_crl(&der).is_ok()
}

/// Sign a CRL of the store's current CA. Pure but for the key: the caller writes.
pub fn make_crl(
    ctx: &Ctx,
    index: &Index,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>> {
    let ca = index.ca(&ctx.store)?;
    let signer = ctx.store.signer(index)?;
    let revoked_certs = index
        .certificates
        .iter()
        .filter(|c| c.state == CertState::Revoked && c.ca_serial == ca.serial)
        .map(|c| {
            Ok(rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&unhex(&c.serial)?),
                revocation_time: c.revoked_at.unwrap_or(c.issued_at),
                reason_code: c
                    .revocation_reason
                    .as_deref()
                    .map(|r| Reason::from_name(r).code()),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let params = rcgen::CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: signer.key_id_method(),
    };
    let issuer = signer.issuer()?;
    let crl = params.signed_by(&issuer).map_err(|e| match e {
        rcgen::Error::IssuerNotCrlSigner => Error::input(
            "the store's CA has a keyUsage without cRLSign, so it cannot sign CRLs",
            "make a new CA with `pki rotate --ca` (pki's CAs carry cRLSign)",
        ),
        e => Error::crypto("cannot sign the CRL", e),
    })?;
    Ok(crl.der().to_vec())
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("x"), 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::failed(
                format!("the index holds a malformed serial {s:?}"),
                "restore index.json from a backup",
            )
        })
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    if a.format == Encoding::Der && a.out.is_none() && !ctx.json {
        return Err(Error::usage(
            "--format der writes binary: it needs --out FILE",
            "add --out FILE, or leave --format at pem for stdout",
        ));
    }
    if let Some(out) = &a.out {
        if out.is_dir() {
            return Err(Error::input(
                format!("{} is a directory", out.display()),
                "give a file name for --out, e.g. --out /srv/crl/rootCA.crl",
            ));
        }
        if out.exists() && !a.force && !holds_crl(out) {
            return Err(Error::refused(
                format!("{} exists and does not hold a CRL", out.display()),
                "pass --force to replace it, or choose another --out",
            ));
        }
    }
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    let _lock = ctx.store.lock(ctx.wait)?;
    let mut index = ctx.store.read_index()?;
    let ca = index.ca(&ctx.store)?.clone();
    if ctx.now >= ca.not_after {
        return Err(Error::refused(
            format!("the root CA expired on {}", rfc3339(ca.not_after)),
            "create a new one with `pki rotate --ca` (or `pki init --force`)",
        ));
    }
    let number = index.crl.as_ref().map_or(1, |c| c.number + 1);
    let this_update = ctx
        .now
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    let next_update = this_update + Duration::days(a.days.into());
    let der = make_crl(ctx, &index, number, this_update, next_update)?;
    let pem_text = crl_pem(&der);

    let rel = PathBuf::from(format!("crl/{number}.crl"));
    fsutil::private_dir(&ctx.store.dir.join("crl"))?;
    fsutil::write_atomic(
        &ctx.store.path(&rel),
        pem_text.as_bytes(),
        PUBLIC_MODE,
        Replace::Never,
    )?;
    index.crl = Some(CrlRecord {
        number,
        ca_serial: ca.serial.clone(),
        this_update,
        next_update,
        path: rel.clone(),
    });
    ctx.store.write_index(&index)?;
    crate::audit::record(
        &ctx.store,
        ctx,
        crate::audit::Event::new("crl", "crl-signed")
            .serial(&ca.serial)
            .detail(format!(
                "CRL number {number}, next update {}",
                rfc3339(next_update)
            )),
    )?;

    let bytes: &[u8] = match a.format {
        Encoding::Pem => pem_text.as_bytes(),
        Encoding::Der => &der,
    };
    if let Some(out) = &a.out {
        fsutil::write_atomic(out, bytes, PUBLIC_MODE, Replace::Allow)?;
    }
    let revoked: Vec<json::Revoked> = index
        .certificates
        .iter()
        .filter(|c| c.state == CertState::Revoked && c.ca_serial == ca.serial)
        .map(|c| json::Revoked {
            user: c.user.clone(),
            serial: c.serial.clone(),
            revoked_at: rfc3339(c.revoked_at.unwrap_or(c.issued_at)),
            reason: c
                .revocation_reason
                .clone()
                .unwrap_or_else(|| "unspecified".into()),
        })
        .collect();
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
        ctx.data(&pem_text)?;
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

/// Whether the CRL needs attention at `now`, for `pki check`: None when all
/// is well, else one line saying what and what to do. A CRL is due when no
/// CRL exists although certificates name a distribution point or some are
/// revoked; when a revocation or a new CA is newer than the last CRL; and
/// when a third or less of its lifetime is left (as for certificates).
pub fn crl_due(index: &Index, now: OffsetDateTime) -> Option<String> {
    let ca = index.ca.as_ref()?;
    let revoked = || {
        index
            .certificates
            .iter()
            .filter(|c| c.state == CertState::Revoked && c.ca_serial == ca.serial)
    };
    let Some(crl) = &index.crl else {
        return match (&index.settings.crl_url, revoked().count()) {
            (Some(url), _) => Some(format!(
                "no CRL has been made, but certificates name {url}: run `pki crl --out FILE` and publish FILE there"
            )),
            (None, 0) => None,
            (None, n) => Some(format!(
                "{n} certificate(s) are revoked but no CRL has been made: run `pki crl --out FILE` and publish it"
            )),
        };
    };
    let n = crl.number;
    if crl.next_update <= now {
        return Some(format!(
            "CRL #{n} expired at {}: Riak refuses every client whose certificate names it; run `pki crl --out FILE` and publish it",
            rfc3339(crl.next_update)
        ));
    }
    if crl.ca_serial != ca.serial {
        return Some(format!(
            "CRL #{n} was signed by an earlier CA: run `pki crl --out FILE` and publish it"
        ));
    }
    if let Some(c) = revoked().find(|c| c.revoked_at.is_some_and(|t| t > crl.this_update)) {
        return Some(format!(
            "{} (serial {}) was revoked after CRL #{n} was made: run `pki crl --out FILE` and publish it",
            c.user, c.serial
        ));
    }
    let life = crl.next_update - crl.this_update;
    let left = crl.next_update - now;
    if left * 3 <= life {
        return Some(format!(
            "CRL #{n} expires at {} ({} h left): run `pki crl --out FILE` and publish it",
            rfc3339(crl.next_update),
            left.whole_hours()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;
    use crate::store::{CaEntry, CertEntry};
    use time::macros::datetime;

    fn index_with(crl: Option<(u64, OffsetDateTime, OffsetDateTime)>) -> Index {
        let t = datetime!(2026-01-01 00:00 UTC);
        let mut i = Index::new();
        i.ca = Some(CaEntry {
            subject: "CN=rootCA".into(),
            serial: "ca".into(),
            not_before: t,
            not_after: t + Duration::days(3650),
            key_type: KeyType::Rsa2048,
            fingerprint_sha256: String::new(),
            cert: "c".into(),
            key: "k".into(),
            created_at: t,
            encrypted: false,
        });
        i.crl = crl.map(|(number, this_update, next_update)| CrlRecord {
            number,
            ca_serial: "ca".into(),
            this_update,
            next_update,
            path: "crl/1.crl".into(),
        });
        i
    }

    fn revoked(at: OffsetDateTime) -> CertEntry {
        CertEntry {
            user: "bob".into(),
            serial: "0b".into(),
            not_before: at,
            not_after: at + Duration::days(365),
            key_type: KeyType::Rsa2048,
            fingerprint_sha256: String::new(),
            state: CertState::Revoked,
            ca_serial: "ca".into(),
            cert: "c".into(),
            key: None,
            issued_at: at,
            revoked_at: Some(at),
            revocation_reason: None,
        }
    }

    #[test]
    fn crl_due_table() {
        let t0 = datetime!(2026-02-01 00:00 UTC);
        let t30 = t0 + Duration::days(30);
        let fresh = index_with(Some((3, t0, t30)));
        let empty = index_with(None);
        // (index, now, expected substring or None)
        let mut no_crl_url = index_with(None);
        no_crl_url.settings.crl_url = Some("http://crl.example/root.crl".into());
        let mut no_crl_revoked = index_with(None);
        no_crl_revoked.certificates.push(revoked(t0));
        let mut revoked_after = index_with(Some((3, t0, t30)));
        revoked_after
            .certificates
            .push(revoked(t0 + Duration::days(1)));
        let mut revoked_before = index_with(Some((3, t0, t30)));
        revoked_before
            .certificates
            .push(revoked(t0 - Duration::days(1)));
        let mut other_ca = index_with(Some((3, t0, t30)));
        other_ca.crl.as_mut().unwrap().ca_serial = "old".into();
        let cases: Vec<(&Index, OffsetDateTime, Option<&str>)> = vec![
            (&empty, t0, None),
            (&no_crl_url, t0, Some("no CRL has been made")),
            (&no_crl_revoked, t0, Some("1 certificate(s) are revoked")),
            (&fresh, t0 + Duration::days(1), None),
            (&fresh, t0 + Duration::days(19), None),
            (&fresh, t0 + Duration::days(20), Some("CRL #3 expires")),
            (&fresh, t30, Some("CRL #3 expired")),
            (
                &revoked_after,
                t0 + Duration::days(2),
                Some("revoked after CRL #3"),
            ),
            (&revoked_before, t0 + Duration::days(2), None),
            (&other_ca, t0 + Duration::days(1), Some("earlier CA")),
        ];
        for (i, (index, now, want)) in cases.into_iter().enumerate() {
            let got = crl_due(index, now);
            match want {
                None => assert_eq!(got, None, "case {i}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(w)),
                    "case {i}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn unhex_reads_index_serials() {
        assert_eq!(unhex("0b7f").unwrap(), vec![0x0b, 0x7f]);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
    }
}
