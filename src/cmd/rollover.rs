//! `pki rollover`: replace the root CA in stages, so that the store and
//! its clients can be redeployed one at a time without a failed login
//! (docs/rollover.md).

use crate::ca::rollover::{self, Advanced, Target};
use crate::cmd::Ctx;
use crate::error::Result;
use crate::json::{self, RolloverDoc};
use crate::store::{audit, Index, Phase};
use crate::x509::keys::KeyType;

const AFTER_HELP: &str = "\
Phases (deploy the store app and the client apps, in either order, at each one):
  pki rollover start      # trust:  store CA file = old+new (old key), clients trust old+new
  pki rollover advance    # switch: store CA file = new+old (new key), users re-issued by the new CA
  pki rollover advance    # done:   the new CA only; the old one is history
  pki rollover abort      # from trust only: back to the old CA alone

After each step: pki export marathon (or deploy marathon) for the store,
pki export asp (or deploy asp, export k8s) for the clients; wait until every
task is healthy; then advance. `advance` refuses until both halves of the
phase were exported or deployed (the audit log says so), unless --force.";

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Make the new CA and enter phase trust (both CAs trusted, the old one signs).
    #[command(after_help = AFTER_HELP)]
    Start(StartArgs),
    /// The phase, both CAs, what each app must carry now, and what comes next.
    Status,
    /// Move on one phase: trust -> switch -> done.
    Advance(AdvanceArgs),
    /// Drop the new CA and return to the old one (from phase trust only).
    Abort {
        #[command(flatten)]
        lock: crate::cli::Wait,
    },
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Lifetime of the new CA in days (default: the current CA's lifetime).
    #[arg(long, value_parser = crate::x509::profile::Days)]
    pub ca_days: Option<u32>,
    /// Key type of the new CA (default: the current CA's).
    #[arg(long, value_enum)]
    pub ca_key_type: Option<KeyType>,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

#[derive(Debug, clap::Args)]
pub struct AdvanceArgs {
    /// The phase to reach (switch or done): a no-op when the rollover is there already, so a retry is safe.
    #[arg(long, value_enum, value_name = "PHASE")]
    pub to: Option<Target>,
    /// Advance even though the audit log shows no export of the phase for the store or the clients.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

pub fn run(ctx: &Ctx, action: Action) -> Result<()> {
    match action {
        Action::Status => {
            let index = ctx.store.read_index()?;
            report(ctx, &index, "status", Vec::new())
        }
        Action::Start(a) => {
            let (index, started) = ctx.store.transact(ctx.wait, ctx.now, |tx| {
                let started = rollover::start(tx, a.ca_key_type, a.ca_days, &ctx.passphrase)?;
                Ok((tx.index.clone(), started))
            })?;
            if let Some(new) = &started {
                ctx.warn_all(crate::ca::issue::non_rsa_warning(None, new.key_type));
            }
            let started = started.is_some();
            if started {
                crate::cmd::republish(ctx, "rollover start")?;
            } else {
                ctx.say("a rollover is already in phase trust; nothing to do");
            }
            report(
                ctx,
                &index,
                if started { "started" } else { "status" },
                Vec::new(),
            )
        }
        Action::Advance(a) => {
            let log = audit::read(&ctx.store)?;
            let entries = match audit::verify(&log) {
                Ok(e) => e,
                Err((e, _)) => e,
            };
            let (index, done) = ctx.store.transact(ctx.wait, ctx.now, |tx| {
                let done = rollover::advance(tx, a.to, a.force, &entries, &ctx.passphrase)?;
                Ok((tx.index.clone(), done))
            })?;
            let Some(Advanced {
                phase,
                issued,
                warnings,
                ..
            }) = done
            else {
                ctx.say("the rollover is there already; nothing to do");
                return report(ctx, &index, "status", Vec::new());
            };
            ctx.warn_all(&warnings);
            crate::cmd::republish(ctx, "rollover advance")?;
            let action = if phase.is_some() { "advanced" } else { "done" };
            report(ctx, &index, action, issued)
        }
        Action::Abort { .. } => {
            let (index, aborted) = ctx.store.transact(ctx.wait, ctx.now, |tx| {
                let aborted = rollover::abort(tx)?;
                Ok((tx.index.clone(), aborted.is_some()))
            })?;
            if aborted {
                crate::cmd::republish(ctx, "rollover abort")?;
            } else {
                ctx.say("no rollover is in progress; nothing to do");
            }
            report(
                ctx,
                &index,
                if aborted { "aborted" } else { "status" },
                Vec::new(),
            )
        }
    }
}

/// What each app carries in the state `index` is in, and what to do next.
fn report(
    ctx: &Ctx,
    index: &Index,
    action: &str,
    issued: Vec<crate::ca::issue::Issued>,
) -> Result<()> {
    let ca = index.ca(&ctx.store)?;
    let r = index.rollover.as_ref();
    let trusted: Vec<String> = index
        .trusted(ctx.now)
        .iter()
        .map(|c| c.serial.to_string())
        .collect();
    let users_signed_by = ca.serial.to_string();
    let next: Vec<String> = match r.map(|r| r.phase) {
        // docs/rollover.md: after an abort the apps exported in phase trust
        // still trust the dropped CA, so both are deployed once more.
        None if action == "aborted" => vec![
            format!(
                "deploy the store app again (pki export marathon / pki deploy marathon / pki export k8s): its CA file is {} alone, so that no task still trusts the dropped CA",
                describe(&trusted)
            ),
            format!(
                "deploy the client apps again (pki export asp / pki deploy asp / pki export k8s): root CA {} alone",
                describe(&trusted)
            ),
        ],
        None => vec!["nothing: no rollover is in progress (start one with `pki rollover start`)".into()],
        Some(p) => vec![
            format!(
                "deploy the store app (pki export marathon / pki deploy marathon / pki export k8s): its CA file is now {} with the key of {}",
                describe(&trusted),
                ca.serial
            ),
            format!(
                "deploy the client apps (pki export asp / pki deploy asp / pki export k8s): root CA {}, user certificates from {}",
                describe(&trusted),
                ca.serial
            ),
            format!(
                "when every task of both is healthy: `pki rollover advance` ({})",
                match p {
                    Phase::Trust => "to switch: the new CA signs and users are re-issued under it",
                    Phase::Switch => "to done: the old CA is no longer trusted",
                }
            ),
        ],
    };
    let doc = RolloverDoc {
        version: json::VERSION,
        action: action.into(),
        phase: r.map_or("none", |r| r.phase.name()).into(),
        started_at: r.map(|r| crate::x509::cert::rfc3339(r.started_at)),
        phase_since: r.map(|r| crate::x509::cert::rfc3339(r.phase_since)),
        current_ca: crate::cmd::ca_summary(ca, ctx.now),
        other_ca: r.map(|r| crate::cmd::ca_summary(&r.other, ctx.now)),
        store_ca_certs: trusted.clone(),
        store_ca_key: ca.serial.to_string(),
        client_root_ca: trusted,
        users_signed_by,
        next,
        issued: issued.iter().map(crate::cmd::issued_doc).collect(),
    };
    if ctx.json {
        return ctx.emit_json(&doc);
    }
    // The text names the phase as docs/rollover.md does: with no rollover
    // in progress the last one is `done`; the JSON keeps `none`.
    let mut text = match r {
        Some(_) => format!("phase: {}\n", doc.phase),
        None => "phase: done (no rollover in progress)\n".to_string(),
    };
    if let (Some(since), Some(other)) = (&doc.phase_since, &doc.other_ca) {
        text.push_str(&format!("since: {since}\n"));
        text.push_str(&format!(
            "current CA (signs): {} serial {} until {}\n",
            doc.current_ca.subject, doc.current_ca.serial, doc.current_ca.not_after
        ));
        text.push_str(&format!(
            "{} CA (trusted): {} serial {} until {}\n",
            if doc.phase == "trust" { "new" } else { "old" },
            other.subject,
            other.serial,
            other.not_after
        ));
    } else {
        text.push_str(&format!(
            "CA: {} serial {} until {}\n",
            doc.current_ca.subject, doc.current_ca.serial, doc.current_ca.not_after
        ));
    }
    for n in &doc.next {
        text.push_str(&format!("next: {n}\n"));
    }
    ctx.data(&text)?;
    if !doc.issued.is_empty() {
        ctx.say(format!(
            "re-issued {} user(s) under the new CA",
            doc.issued.len()
        ));
    }
    Ok(())
}

/// "serial A then serial B" for a CA bundle.
fn describe(serials: &[String]) -> String {
    serials
        .iter()
        .map(|s| format!("serial {s}"))
        .collect::<Vec<_>>()
        .join(" then ")
}
