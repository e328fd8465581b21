//! `pki issue USER...`: client certificates with CN = USER.
//!
//! The whole batch is validated (names, SANs, existing users) before any key
//! is made; keys are generated in parallel; the index is written once, so a
//! batch becomes current all at once or not at all.

use std::path::PathBuf;

use crate::ca::issue::{issue_batch, non_rsa_warning, prepare, refuse_existing, Request};
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;

use crate::ui::progress::{self, Progress};
use crate::x509::keys::{KeyFormat, KeyType};
use crate::x509::names;
use crate::x509::profile::{self, DEFAULT_USER_DAYS};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki issue myuser\n  pki issue alice bob carol --days 90\n  pki issue --from users.txt\n  pki issue myuser --force          # re-issue; the old certificate stays in history\n\nA batch is checked whole before any key is made, and keys are generated on\nevery core. A progress bar is drawn on stderr while keys are made, only when\nstdout and stderr are both terminals and neither --json nor --quiet is given."
)]
pub struct Args {
    /// User names: lower-case a-z 0-9 . _ @ -, 1 to 64 characters.
    #[arg(value_name = "USER")]
    pub users: Vec<String>,
    /// The same names as flags (`--user carl`, as export and deploy take
    /// them): accepted, so the habit does not fail.
    #[arg(long = "user", value_name = "USER", num_args = 1.., hide = true)]
    pub user_flag: Vec<String>,
    /// Read more user names from FILE, one per line (`-` for stdin); blank lines and # comments are skipped.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Lifetime in days (365, as the deployment documentation uses); never past the CA's own expiry.
    #[arg(long, default_value_t = DEFAULT_USER_DAYS, value_parser = crate::x509::profile::Days)]
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
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

/// Read the names of a batch: arguments, then `--from` (`-` for stdin).
fn collect_users(args: &[String], from: Option<&PathBuf>) -> Result<Vec<String>> {
    let mut users = args.to_vec();
    if let Some(path) = from {
        let text = crate::store::fs::read_input_text(path)?;
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
    names::validate_users(&users)?;
    Ok(users)
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let named: Vec<String> = a.users.iter().chain(&a.user_flag).cloned().collect();
    let users = collect_users(&named, a.from.as_ref())?;
    for s in &a.san {
        profile::parse_san(s)?;
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
    // Only the named users' entries are read and written (in a store
    // whose index is in shards, one issue costs O(change)).
    let named: Vec<String> = requests.iter().map(|r| r.user.clone()).collect();
    let issued = ctx
        .store
        .transact_for(Some(&named), ctx.wait, ctx.now, |tx| {
            if !a.force {
                refuse_existing(&tx.index, requests.iter().map(|r| r.user.as_str()))?;
            }
            let signer = crate::ca::key::signer(tx.store, &tx.index, &ctx.passphrase)?;
            ctx.warn_all(non_rsa_warning(None, a.key_type));
            let prepared = prepare(&signer, &requests, tx.now)?;
            // Warnings first, before a progress bar takes the terminal.
            ctx.warn_all(prepared.warnings.iter());
            let progress = Progress::new(&ctx.ui, requests.len(), progress::KEYS_LABEL);
            let issued = issue_batch(tx, &signer, &requests, &prepared, a.key_format, &|| {
                progress.inc()
            })?;
            drop(progress);
            tx.record_all(crate::ca::issue::issued_events("issue", &issued));
            Ok(issued)
        })?;
    report(ctx, issued)
}

fn report(ctx: &Ctx, issued: Vec<crate::ca::issue::Issued>) -> Result<()> {
    for i in &issued {
        ctx.detail(format!("issued {} serial {}", i.user, i.info.serial));
        let verb = if i.replaced_serial.is_some() {
            "re-issued"
        } else {
            "issued"
        };
        ctx.say(format!(
            "{verb} {} (serial {}, valid until {})",
            i.user,
            i.info.serial,
            crate::x509::cert::rfc3339(i.info.not_after)
        ));
    }
    if ctx.json {
        ctx.emit_json(&json::IssueDoc {
            version: json::VERSION,
            issued: issued.iter().map(crate::cmd::issued_doc).collect(),
        })?;
    }
    Ok(())
}
