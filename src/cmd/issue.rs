//! `pki issue USER...`: client certificates with CN = USER.
//!
//! The whole batch is validated (names, SANs, existing users) before any key
//! is made; keys are generated in parallel; the index is written once, so a
//! batch becomes current all at once or not at all.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::certinfo::{rfc3339, CertInfo};
use crate::cmd::{shown, Ctx};
use crate::error::{Error, Result};
use crate::json;
use crate::keys::{KeyFormat, KeyType, PrivateKey};
use crate::names;
use crate::profile::{self, Signer, UserProfile, DEFAULT_USER_DAYS, MAX_DAYS};
use crate::store::{CertEntry, Index, Store};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki issue myuser\n  pki issue alice bob carol --days 90\n  pki issue --from users.txt\n  pki issue myuser --force          # re-issue; the old certificate stays in history"
)]
pub struct Args {
    /// User names: lower-case a-z 0-9 . _ @ -, 1 to 64 characters.
    #[arg(value_name = "USER")]
    pub users: Vec<String>,
    /// Read more user names from FILE, one per line (`-` for stdin); blank lines and # comments are skipped.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Lifetime in days (365, as the deployment documentation uses); never past the CA's own expiry.
    #[arg(long, default_value_t = DEFAULT_USER_DAYS, value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
    pub days: u32,
    /// Key algorithm. The ephemeral store's TLS stack needs RSA.
    #[arg(long, value_enum, default_value_t = KeyType::Rsa2048)]
    pub key_type: KeyType,
    /// Subject alternative name (DNS name, IP, e-mail or URI); repeatable.
    #[arg(long, value_name = "SAN")]
    pub san: Vec<String>,
    /// How keys are written: native (PKCS#1 for RSA, SEC1 for EC) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Re-issue users that already have a certificate (the old one stays in history).
    #[arg(long)]
    pub force: bool,
}

/// A request for one certificate, fully validated.
pub struct Request {
    pub user: String,
    pub key_type: KeyType,
    pub days: u32,
    pub sans: Vec<String>,
}

/// Read the names of a batch: arguments, then `--from`.
pub fn collect_users(args: &[String], from: Option<&PathBuf>) -> Result<Vec<String>> {
    let mut users = args.to_vec();
    if let Some(path) = from {
        let text = if path.as_os_str() == "-" {
            let mut lines = Vec::new();
            for line in std::io::stdin().lock().lines() {
                lines.push(line.map_err(|source| Error::Read {
                    path: "stdin".into(),
                    source,
                })?);
            }
            lines.join("\n")
        } else {
            crate::fsutil::read_input_text(path)?
        };
        users.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    if users.is_empty() {
        return Err(Error::usage(
            "no user names given",
            "name at least one user, e.g. `pki issue myuser`, or use --from FILE",
        ));
    }
    let mut seen = HashSet::new();
    for u in &users {
        names::validate_user(u)?;
        if !seen.insert(u.as_str()) {
            return Err(Error::usage(
                format!("user {u:?} is named twice"),
                "name each user once per batch",
            ));
        }
    }
    Ok(users)
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let users = collect_users(&a.users, a.from.as_ref())?;
    for s in &a.san {
        profile::parse_san(s)?;
    }
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    let _lock = ctx.store.lock(ctx.wait)?;
    let mut index = ctx.store.read_index()?;
    if !a.force {
        if let Some(u) = users.iter().find(|u| index.active(u).is_some()) {
            return Err(Error::refused(
                format!("user {u:?} already has a certificate"),
                "pass --force to re-issue it (the old one stays in history), or use `pki rotate`",
            ));
        }
    }
    let signer = ctx.store.signer(&index)?;
    if !a.key_type.is_rsa() {
        ctx.warn(format!(
            "{} client keys cannot talk to the ASP ephemeral store, whose TLS stack needs RSA",
            a.key_type
        ));
    }
    let requests: Vec<Request> = users
        .into_iter()
        .map(|user| Request {
            user,
            key_type: a.key_type,
            days: a.days,
            sans: a.san.clone(),
        })
        .collect();
    let issued = issue_batch(ctx, &mut index, &signer, &requests, a.key_format)?;
    ctx.store.write_index(&index)?;
    crate::audit::record_all(
        &ctx.store,
        ctx,
        crate::audit::issued_events("issue", &issued),
    )?;
    report(ctx, issued)
}

/// Generate keys for `requests` on every core, sign, and write the files;
/// updates `index` in memory (the caller writes it once). Returns what was
/// written, in request order.
pub fn issue_batch(
    ctx: &Ctx,
    index: &mut Index,
    signer: &Signer,
    requests: &[Request],
    format: KeyFormat,
) -> Result<Vec<json::Issued>> {
    let ca = index.ca(&ctx.store)?.clone();
    if ctx.now >= signer.not_after {
        return Err(Error::refused(
            format!("the root CA expired on {}", rfc3339(signer.not_after)),
            "create a new one with `pki rotate --ca` (or `pki init --force`)",
        ));
    }
    let keys = generate_keys(requests.iter().map(|r| r.key_type).collect())?;
    let mut out = Vec::with_capacity(requests.len());
    for (r, key) in requests.iter().zip(keys) {
        let (not_before, not_after) = clamp(ctx, r, signer.not_after);
        let serial = loop {
            let s = profile::random_serial()?;
            if !index.serial_in_use(&profile::hex(&s)) {
                break s;
            }
        };
        let params = profile::user_params(&UserProfile {
            user: &r.user,
            serial: &serial,
            not_before,
            not_after,
            sans: &r.sans,
            crl_url: index.settings.crl_url.as_deref(),
        })?;
        let der = signer.sign(&params, &key.key_pair()?)?;
        let info = CertInfo::from_der(&der, "the new certificate")?;
        let (cert_rel, key_rel) = Store::user_paths(&r.user, &info.serial);
        ctx.store.write_key(&key_rel, &key, format)?;
        ctx.store.write_cert(&cert_rel, &der)?;
        let replaced = index.supersede(&r.user);
        index.certificates.push(CertEntry::from_info(
            &r.user,
            &info,
            &ca.serial,
            cert_rel.clone(),
            Some(key_rel.clone()),
            ctx.now,
        )?);
        ctx.detail(format!("issued {} serial {}", r.user, info.serial));
        out.push(json::Issued {
            user: r.user.clone(),
            serial: info.serial,
            not_before: rfc3339(info.not_before),
            not_after: rfc3339(info.not_after),
            key_type: r.key_type.name().into(),
            fingerprint_sha256: info.fingerprint_sha256,
            cert_path: shown(ctx, &cert_rel).display().to_string(),
            key_path: Some(shown(ctx, &key_rel).display().to_string()),
            replaced_serial: replaced,
        });
    }
    Ok(out)
}

/// A certificate never outlives its CA: clamp notAfter and say so.
pub fn clamp(
    ctx: &Ctx,
    r: &Request,
    ca_not_after: OffsetDateTime,
) -> (OffsetDateTime, OffsetDateTime) {
    let (nb, na) = profile::validity(ctx.now, r.days);
    if na > ca_not_after {
        ctx.warn(format!(
            "{}: {} days would outlive the CA; the certificate ends with the CA on {}",
            r.user,
            r.days,
            rfc3339(ca_not_after)
        ));
        (nb, ca_not_after)
    } else {
        (nb, na)
    }
}

/// Generate one key per entry, spread over all cores (RSA key generation is
/// the floor of issuance time: about 50 ms per 2048-bit key).
pub fn generate_keys(types: Vec<KeyType>) -> Result<Vec<PrivateKey>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(types.len().max(1));
    if threads <= 1 {
        return types.into_iter().map(PrivateKey::generate).collect();
    }
    let chunk = types.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = types
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|t| PrivateKey::generate(*t))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut keys = Vec::with_capacity(types.len());
        for h in handles {
            keys.extend(h.join().map_err(|_| {
                Error::failed(
                    "key generation thread panicked",
                    "this is a bug; please report it",
                )
            })??);
        }
        Ok(keys)
    })
}

fn report(ctx: &Ctx, issued: Vec<json::Issued>) -> Result<()> {
    for i in &issued {
        let verb = if i.replaced_serial.is_some() {
            "re-issued"
        } else {
            "issued"
        };
        ctx.say(format!(
            "{verb} {} (serial {}, valid until {})",
            i.user, i.serial, i.not_after
        ));
    }
    if ctx.json {
        ctx.emit_json(&json::IssueDoc {
            version: json::VERSION,
            issued,
        })?;
    }
    Ok(())
}
