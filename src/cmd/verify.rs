//! `pki verify`: check the store (or one certificate file) against the rules
//! the ephemeral store's TLS stack applies and the store's own invariants.
//! One line per finding; exit 3 when any check fails.
//!
//! This file parses the arguments, runs the checks of [`crate::ca::checks`]
//! (the CA, each user, a `--cert` file, the history; what each check holds
//! a certificate to is documented there) and renders their findings.

use std::path::{Path, PathBuf};

use crate::ca::checks::{self, Checker, Finding};
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json::{self, VerifyDoc};
use crate::store::CertEntry;

const AFTER_HELP: &str = "\
Examples:
  pki verify                          # the CA, every current user, and the history files
  pki verify alice bob
  pki verify --cert client.crt --key client.key   # any certificate against the store CA
  pki verify --json | jq '.findings[] | select(.ok | not)'

Exit codes: 0 every check passed (warn lines: passed, with something to know); 3 a check failed (the failing lines say which).";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Only these users (default: every user, and the store's history).
    #[arg(value_name = "USER", add = crate::cli::user_names(), conflicts_with = "cert")]
    pub users: Vec<String>,
    /// Verify this PEM certificate file against the store CA instead.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// With --cert: the private key that should match it.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The CA key is read to check that it matches its certificate.
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    for u in &a.users {
        crate::x509::names::validate_user(u)?;
    }
    let cert_input = match &a.cert {
        Some(p) => Some(crate::store::fs::read_input_text(p)?),
        None => None,
    };
    // A store that is not private is reported, not read: whatever a link
    // in it points to is not the store's to verify.
    let scanned = checks::scanned(&ctx.store.scan());
    if scanned.iter().any(|f| !f.ok()) {
        return emit(ctx, scanned);
    }
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    let selected: Vec<&CertEntry> = if a.users.is_empty() {
        index.active_all().collect()
    } else {
        a.users
            .iter()
            .map(|u| {
                index.active(u).ok_or_else(|| Error::NoUser {
                    user: u.to_string(),
                })
            })
            .collect::<Result<_>>()?
    };
    let read_key = |rel: &Path| crate::ca::key::read_store_key(&ctx.store, rel, &ctx.passphrase);
    let mut c = Checker {
        store: &ctx.store,
        now: ctx.now,
        read_key: &read_key,
        findings: Vec::new(),
    };
    let ca_der = c.ca(index.ca(&ctx.store)?);
    // The other CA of a rollover in progress is trusted too: check it the same way.
    if let Some(ro) = &index.rollover {
        c.ca(&ro.other);
    }
    if let (Some(path), Some(text)) = (&a.cert, &cert_input) {
        c.file(path, text, a.key.as_deref(), ca_der.as_deref());
    } else {
        for e in &selected {
            c.user(e, ca_der.as_deref());
        }
        if a.users.is_empty() {
            c.history(&index);
            c.crls(&index);
        }
    }
    let mut findings = c.findings;
    findings.extend(scanned);
    if a.users.is_empty() && a.cert.is_none() {
        findings.extend(checks::orphans(&ctx.store, &index));
    }
    emit(ctx, findings)
}

fn emit(ctx: &Ctx, findings: Vec<Finding>) -> Result<()> {
    let failed = findings.iter().filter(|f| !f.ok()).count();
    let warned = findings.iter().filter(|f| f.warning).count();
    let total = findings.len();
    if ctx.json {
        ctx.emit_json(&VerifyDoc {
            version: json::VERSION,
            ok: failed == 0,
            findings: findings
                .into_iter()
                .map(|f| json::Finding {
                    ok: f.ok(),
                    warning: f.warning,
                    message: f.message().to_string(),
                    check: f.check.name().into(),
                    user: f.user,
                    serial: f.serial,
                })
                .collect(),
        })?;
    } else {
        let mut out = String::new();
        for f in &findings {
            let who = match (&f.user, f.check) {
                (Some(u), _) => u.as_str(),
                (None, c) if c.of_ca() => "(CA)",
                (None, checks::Check::Store) => "(store)",
                (None, _) => "-",
            };
            out.push_str(&format!(
                "{:<4}  {:<12}  {:<14}  {}\n",
                match (f.ok(), f.warning) {
                    (true, false) => "ok",
                    (true, true) => "warn",
                    (false, _) => "FAIL",
                },
                who,
                f.check.name(),
                f.message()
            ));
        }
        ctx.text(&out)?;
    }
    if failed == 0 {
        ctx.say(format!("all {total} checks passed"));
        if warned > 0 {
            ctx.warn(format!(
                "{warned} of them with a warning; the warn lines say when it becomes a problem"
            ));
        }
        Ok(())
    } else {
        Err(Error::Attention {
            msg: format!("{failed} of {total} checks failed; the FAIL lines say what to fix"),
        })
    }
}
