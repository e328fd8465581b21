//! `pki issue USER...`: client certificates with CN = USER.
//!
//! The whole batch is validated (names, SANs, existing users) before any key
//! is made; keys are generated in parallel; the index is written once, so a
//! batch becomes current all at once or not at all.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use time::OffsetDateTime;

use crate::certinfo::{rfc3339, CertInfo};
use crate::cmd::{shown, Ctx};
use crate::error::{Error, Result};
use crate::json;
use crate::keys::{KeyFormat, KeyType, PrivateKey};
use crate::names;
use crate::profile::{self, Signer, UserProfile, DEFAULT_USER_DAYS, MAX_DAYS};
use crate::progress::{self, Progress};
use crate::store::{CertEntry, CertState, Index, Store};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki issue myuser\n  pki issue alice bob carol --days 90\n  pki issue --from users.txt\n  pki issue myuser --force          # re-issue; the old certificate stays in history\n\nA batch is checked whole before any key is made, and keys are generated on\nevery core. A progress bar is drawn on stderr while keys are made, only when\nstdout and stderr are both terminals and neither --json nor --quiet is given."
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
    if !ctx.store.exists() {
        // Say how to make a store, rather than failing to lock one.
        ctx.store.read_index()?;
    }
    let _lock = ctx.store.lock(ctx.wait)?;
    let mut index = ctx.store.read_index()?;
    if !a.force {
        let active = index.active_positions();
        if let Some(u) = users.iter().find(|u| active.contains_key(u.as_str())) {
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
///
/// Signing and writing happen on this thread while the other threads go on
/// generating keys, so the writes (two files, four fsyncs per user) hide
/// behind key generation. A progress bar ticks as each user is done (see
/// `crate::progress`). The index is looked up through maps built once, so a
/// batch costs O(batch + store), not O(batch x store).
pub fn issue_batch(
    ctx: &Ctx,
    index: &mut Index,
    signer: &Signer,
    requests: &[Request],
    format: KeyFormat,
) -> Result<Vec<json::Issued>> {
    let ca_serial = index.ca(&ctx.store)?.serial.clone();
    if ctx.now >= signer.not_after {
        return Err(Error::refused(
            format!("the root CA expired on {}", rfc3339(signer.not_after)),
            "create a new one with `pki rotate --ca` (or `pki init --force`)",
        ));
    }
    // Warnings first, before a progress bar takes the terminal.
    let validity: Vec<_> = requests
        .iter()
        .map(|r| clamp(ctx, r, signer.not_after))
        .collect();
    let mut serials = index.serials();
    let crl_url = index.settings.crl_url.clone();
    let mut made: Vec<Option<(CertInfo, PathBuf, PathBuf)>> =
        requests.iter().map(|_| None).collect();
    let progress = Progress::new(ctx, requests.len(), progress::KEYS_LABEL);
    let types: Vec<KeyType> = requests.iter().map(|r| r.key_type).collect();
    generate_keys_each(&types, |i, key| {
        let r = &requests[i];
        let (not_before, not_after) = validity[i];
        let serial = loop {
            let s = profile::random_serial()?;
            if serials.insert(profile::hex(&s)) {
                break s;
            }
        };
        let params = profile::user_params(&UserProfile {
            user: &r.user,
            serial: &serial,
            not_before,
            not_after,
            sans: &r.sans,
            crl_url: crl_url.as_deref(),
        })?;
        let der = signer.sign(&params, &key.key_pair()?)?;
        let info = CertInfo::from_der(&der, "the new certificate")?;
        let (cert_rel, key_rel) = Store::user_paths(&r.user, &info.serial);
        ctx.store.write_key(&key_rel, &key, format)?;
        ctx.store.write_cert(&cert_rel, &der)?;
        made[i] = Some((info, cert_rel, key_rel));
        progress.inc();
        Ok(())
    })?;
    drop(progress);
    // Every file is on disk; now record them, in request order.
    let mut active = index.active_positions();
    let mut out = Vec::with_capacity(requests.len());
    for (r, m) in requests.iter().zip(made) {
        let (info, cert_rel, key_rel) = m.expect("every key was generated");
        let replaced = active.get(&r.user).map(|&p| {
            let old = &mut index.certificates[p];
            old.state = CertState::Superseded;
            old.serial.clone()
        });
        active.insert(r.user.clone(), index.certificates.len());
        index.certificates.push(CertEntry::from_info(
            &r.user,
            &info,
            &ca_serial,
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
/// the floor of issuance time: about 50 ms per 2048-bit key). Returns them
/// in the order of `types`.
pub fn generate_keys(types: Vec<KeyType>) -> Result<Vec<PrivateKey>> {
    let mut keys: Vec<Option<PrivateKey>> = types.iter().map(|_| None).collect();
    generate_keys_each(&types, |i, k| {
        keys[i] = Some(k);
        Ok(())
    })?;
    Ok(keys.into_iter().flatten().collect())
}

/// Generate one key per entry of `types` on all cores, calling `done(i, key)`
/// on the calling thread as each key is ready (in completion order, so the
/// caller's work overlaps with generation). Workers take the next entry as
/// they finish one: RSA key generation time varies a lot from key to key,
/// so fixed shares would leave a core idle. The first error from
/// generation or from `done` stops the workers and is returned.
pub fn generate_keys_each(
    types: &[KeyType],
    mut done: impl FnMut(usize, PrivateKey) -> Result<()>,
) -> Result<()> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(types.len());
    if workers <= 1 {
        for (i, t) in types.iter().enumerate() {
            done(i, PrivateKey::generate(*t)?)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<PrivateKey>)>();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= types.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                if tx.send((i, PrivateKey::generate(types[i]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Ends when every worker has finished (all senders dropped).
        let result = rx
            .iter()
            .try_for_each(|(i, key)| key.and_then(|k| done(i, k)));
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
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
