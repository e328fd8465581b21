//! `pki rotate`: re-issue what is due; safe to run from cron.
//!
//! Plan (`crate::ca::plan`, pure) then apply. Apply takes the store lock,
//! re-reads the index and plans again under it, so concurrent runs rotate
//! each due user exactly once. A plan with nothing to do is not applied:
//! no lock, no second read. New keys and certificates are written beside
//! the old ones (files are named by serial and never rewritten); one atomic
//! replacement of `index.json` then makes every new pair current at once
//! and turns the old entries into history (`superseded`). A run killed at
//! any instant leaves each user's current pair wholly old or wholly new.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use crate::ca::issue::{reissue, Renewal};
use crate::ca::plan::{self, Options, Plan};
use crate::ca::policy::Within;
use crate::ca::rollover::refuse_during;
use crate::ca::{create_successor, install_ca, renew_ca};
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json::{self, RotateAction, RotateCa, RotateDoc};
use crate::store::audit::Kind;
use crate::store::hook::{self, PendingHook};
use crate::store::{CaEntry, Tx};
use crate::x509::cert::rfc3339;
use crate::x509::keys::{KeyFormat, KeyType};
use crate::x509::names;

const AFTER_HELP: &str = "\
Examples:
  pki rotate                         # re-issue every user with a third or less of its lifetime left
  pki rotate --within 30d --dry-run  # what would be re-issued with a 30-day window
  pki rotate alice bob --force       # re-issue these two now, due or not
  pki -q rotate --wait --on-change 'deploy-asp \"$PKI_ROTATED_USERS\"'   # from cron
  pki rotate --ca --force            # new root CA now, every user re-issued under it
  pki rotate --ca --keep-key         # renew the CA with its key when due: users keep working

A rotated user keeps its lifetime in days and its key type unless --days or
--key-type say otherwise; superseded certificates and keys stay in the store
(`pki list --all`). A certificate is never issued to outlive its CA: it is cut
to the CA's expiry with a warning, and a certificate that could not end any
later is kept with a hint to rotate the CA.

--on-change runs CMD with `sh -c` once after a run that changed something,
with PKI_DIR (the store), PKI_ROTATED_USERS (space-separated),
PKI_NEW_SERIALS (space-separated user=serial) and PKI_CA_ROTATED (0 or 1).

--keep-key renews the CA instead of replacing it: a new certificate for the
same key, subject and key identifier, so every certificate it signed keeps
working under either CA certificate; exports carry both until the old one
expires. Users are re-issued only when they are due themselves (--force
forces the CA, not them). docs/rollover.md says when to renew and when to
replace the key.
Exit 1 when it fails; the rotation itself stays done. A hook that a run
stopped after its commit did not run is run by the next `pki rotate`, and
`pki check` reports it until then.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Only these users (default: every user with a current certificate).
    #[arg(value_name = "USER", add = crate::cli::user_names(), conflicts_with = "ca")]
    pub users: Vec<String>,
    /// What counts as due: 30d, 12h, or a share of the lifetime left such as 33%.
    #[arg(long, default_value = "33%", value_parser = crate::ca::policy::parse_within, value_name = "D", allow_hyphen_values = true)]
    pub within: Within,
    /// Also replace the root CA when it is due (or with --force), re-issuing every user under it.
    #[arg(long)]
    pub ca: bool,
    /// Rotate what is selected even when it is not due.
    #[arg(long)]
    pub force: bool,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run CMD (with sh -c) once after a run that changed something.
    #[arg(long, value_name = "CMD")]
    pub on_change: Option<String>,
    /// Lifetime of re-issued certificates in days (default: each one's previous lifetime).
    #[arg(long, value_parser = crate::x509::profile::Days)]
    pub days: Option<u32>,
    /// Key type of re-issued certificates (default: each one's previous key type).
    #[arg(long, value_enum)]
    pub key_type: Option<KeyType>,
    /// How new keys are written (default: as each old key was).
    #[arg(long, value_enum)]
    pub key_format: Option<KeyFormat>,
    /// Lifetime of a new CA in days (default: the old CA's lifetime).
    #[arg(long, requires = "ca", value_parser = crate::x509::profile::Days)]
    pub ca_days: Option<u32>,
    /// Key type of a new CA (default: the old CA's).
    #[arg(long, requires = "ca", value_enum)]
    pub ca_key_type: Option<KeyType>,
    /// Renew the CA with its key (same subject and key identifier): users keep their certificates.
    #[arg(long, requires = "ca", conflicts_with = "ca_key_type")]
    pub keep_key: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

/// What apply did.
#[derive(Default)]
struct Outcome {
    /// user -> new serial
    issued: BTreeMap<String, String>,
    new_ca: Option<CaEntry>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    names::validate_users(&a.users)?;
    let opts = Options {
        users: a.users.clone(),
        force: a.force,
        ca: a.ca,
        days: a.days,
        key_type: a.key_type,
        ca_days: a.ca_days,
        ca_key_type: a.ca_key_type,
        keep_key: a.keep_key,
    };
    // Plan once without the lock: a bad selection is exit 2 without
    // waiting, and a dry run never takes the lock at all.
    let index = ctx.store.read_index()?;
    if a.ca {
        refuse_during(&index)?;
    }
    let ca = index.ca(&ctx.store)?;
    let first = plan::plan(&index, ca, a.within, &opts, ctx.now)?;
    plan::check_loops(&first, ca.not_after, a.within, ctx.now)?;
    if a.dry_run {
        return report(ctx, &first, &Outcome::default(), true);
    }
    // A hook a committed rotation could not run (its run stopped after the
    // commit) runs now, before anything else; its outcome is reported last.
    let earlier = run_pending(ctx);
    if !first.changes() && !ctx.store.unsettled(&index) {
        // Nothing is due in the committed index and no interrupted run
        // left anything the transaction below would finish or tidy (an
        // audit journal, shard files or users.intent a run stopped before
        // it removed; in Vault a lock whose holder is gone): nothing to
        // write, so no lock, as a dry run. The answer is the committed
        // index's (as if this run came just before any writer now at
        // work). Leftovers only a look in every user's directory would
        // find (from an older pki, or put there by hand) stay for the next
        // run that takes the lock: that look cost a no-op run over 50,000
        // users more than reading the index.
        report(ctx, &first, &Outcome::default(), false)?;
        return earlier;
    }
    // Under the lock: re-read and plan again, so concurrent runs rotate
    // each due user exactly once.
    let done = ctx.store.transact(ctx.wait, ctx.now, |tx| {
        if a.ca {
            refuse_during(&tx.index)?;
        }
        let ca = tx.index.ca(tx.store)?.clone();
        let plan = plan::plan(&tx.index, &ca, a.within, &opts, tx.now)?;
        plan::check_loops(&plan, ca.not_after, a.within, tx.now)?;
        let outcome = if plan.changes() {
            apply(ctx, tx, &plan, a.key_format)?
        } else {
            Outcome::default()
        };
        // Remembered before the commit: if this run stops after it, the
        // next `pki rotate` runs the hook.
        let hook = a
            .on_change
            .as_ref()
            .filter(|_| !outcome.issued.is_empty() || outcome.new_ca.is_some())
            .map(|cmd| PendingHook {
                command: cmd.clone(),
                issued: outcome.issued.clone(),
                ca_serial: outcome.new_ca.as_ref().map(|c| c.serial.to_string()),
            });
        if let Some(h) = &hook {
            hook::write(tx.store, h)?;
        }
        Ok((plan, outcome, hook))
    });
    let (plan, outcome, hook) = match done {
        Ok(d) => d,
        Err(e) => return Err(hook_left(ctx, e)),
    };
    report(ctx, &plan, &outcome, false)?;
    if !outcome.issued.is_empty() || outcome.new_ca.is_some() {
        crate::cmd::republish(ctx, "rotate")?;
    }
    if let Some(h) = hook {
        let ran = run_hook(ctx, &h);
        forget(ctx, &h)?;
        ran?;
    }
    earlier
}

/// Forget a hook that has run. The rotation is committed whatever happens
/// here: a failure says so, never "run the command again".
fn forget(ctx: &Ctx, h: &PendingHook) -> Result<()> {
    hook::done(&ctx.store, h, ctx.wait, ctx.now).map_err(|e| {
        crate::store::after_commit(
            &e,
            "the --on-change command ran; if hook.pending is still in the store, the next `pki rotate` runs it again",
        )
    })
}

/// Run the hook a committed rotation left pending (and forget it), or drop
/// one whose rotation never committed. The index is read after the marker
/// (not the one this run planned from): a rotation that wrote the marker
/// and committed in between must be seen as committed.
fn run_pending(ctx: &Ctx) -> Result<()> {
    // A `pki rotate` inside a hook must not run that same hook again.
    if std::env::var_os(IN_HOOK).is_some() {
        return Ok(());
    }
    let Some(h) = hook::read(&ctx.store)? else {
        return Ok(());
    };
    if !h.committed(&ctx.store.read_index()?) {
        return hook::done(&ctx.store, &h, ctx.wait, ctx.now);
    }
    ctx.say(format!(
        "running the --on-change command of an earlier rotation that did not run it: {}",
        h.command
    ));
    let ran = run_hook(ctx, &h);
    forget(ctx, &h)?;
    ran
}

/// A rotation that failed after its commit: say that its hook did not run
/// and when it will.
fn hook_left(ctx: &Ctx, e: Error) -> Error {
    let committed = matches!(hook::read(&ctx.store), Ok(Some(h))
        if ctx.store.read_index().is_ok_and(|i| h.committed(&i)));
    match e {
        Error::Failed { msg, hint } if committed => Error::failed(
            msg,
            format!("{hint}; the --on-change command has not run: the next `pki rotate` runs it"),
        ),
        e => e,
    }
}

/// Write every new file the plan needs, update the index and record the
/// audit events; the transaction commits them with one index write. With
/// a new CA, users are re-issued under it first, then the CA is installed:
/// what could not be re-issued (a certificate from a CSR) is superseded
/// with the old CA.
fn apply(ctx: &Ctx, tx: &mut Tx<'_>, plan: &Plan, format: Option<KeyFormat>) -> Result<Outcome> {
    let mut out = Outcome::default();
    let (signer, new_ca) = if plan.ca.rotate && plan.ca.keep_key {
        let (entry, signer) = renew_ca(tx.store, &tx.index, plan.ca.days, tx.now, &ctx.passphrase)?;
        (signer, Some(entry))
    } else if plan.ca.rotate {
        let (entry, signer) = create_successor(
            tx.store,
            &tx.index,
            plan.ca.key_type,
            plan.ca.days,
            format,
            &ctx.passphrase,
            tx.now,
        )?;
        (signer, Some(entry))
    } else {
        (
            crate::ca::key::signer(tx.store, &tx.index, &ctx.passphrase)?,
            None,
        )
    };
    let renewals: Vec<Renewal> = plan
        .to_rotate()
        .map(|u| Renewal {
            user: u.user.clone(),
            key_type: u.key_type,
            days: u.days,
        })
        .collect();
    let (issued, warnings) = reissue(tx, &signer, &renewals, format)?;
    ctx.warn_all(&warnings);
    if let Some(entry) = new_ca {
        let reissued = issued.len();
        let event = if plan.ca.keep_key {
            Kind::CaRenewed
        } else {
            Kind::CaRotated
        };
        let (_, ev) = install_ca(&mut tx.index, entry.clone(), "rotate", event, reissued);
        tx.record(ev);
        if !plan.ca.keep_key {
            for u in plan.users.iter().filter(|u| !u.decision.rotates()) {
                ctx.warn(format!("{}: {}", u.user, u.decision.reason()));
            }
        }
        out.new_ca = Some(entry);
    }
    tx.record_all(crate::ca::issue::issued_events("rotate", &issued));
    for i in issued {
        out.issued.insert(i.user, i.info.serial.to_string());
    }
    Ok(out)
}

fn report(ctx: &Ctx, plan: &Plan, out: &Outcome, dry_run: bool) -> Result<()> {
    if ctx.json {
        let actions: Vec<RotateAction> = plan
            .users
            .iter()
            .map(|u| RotateAction {
                user: u.user.clone(),
                action: u.decision.action().into(),
                reason: u.decision.reason().to_string(),
                old_serial: u.old_serial.to_string(),
                new_serial: out.issued.get(&u.user).cloned(),
            })
            .collect();
        ctx.emit_json(&RotateDoc {
            version: json::VERSION,
            dry_run,
            actions,
            ca: RotateCa {
                due: plan.ca.due,
                not_after: rfc3339(plan.ca.not_after),
                serial: plan.ca.serial.clone(),
                rotated: out.new_ca.is_some(),
                new_serial: out.new_ca.as_ref().map(|c| c.serial.to_string()),
            },
        })?;
    } else {
        // Rotations are data; keeps are listed on a dry run or with -v, so a
        // cron job with nothing to do prints nothing on stdout (and copies
        // nothing of a plan of thousands).
        let mut text = String::new();
        let verb = if dry_run { "would rotate" } else { "rotated" };
        let w = plan.users.iter().map(|u| u.user.len()).max().unwrap_or(4);
        for u in &plan.users {
            let (user, old) = (&u.user, &u.old_serial);
            if u.decision.rotates() {
                let new = out.issued.get(user).map_or("new", String::as_str);
                let why = u.decision.reason();
                text.push_str(&format!(
                    "{verb:<12}  {user:<w$}  {old} -> {new}  ({why})\n"
                ));
            } else if dry_run || ctx.verbose {
                let why = u.decision.reason();
                text.push_str(&format!("{:<12}  {user:<w$}  {old}  ({why})\n", "keep"));
            }
        }
        ctx.text(&text)?;
    }
    let rotated = plan.to_rotate().count();
    let kept = plan.users.len() - rotated;
    if rotated == 0 && !plan.ca.rotate {
        ctx.say(format!("nothing to do: {kept} certificate(s) kept"));
    } else if dry_run {
        ctx.say(format!(
            "dry run: {rotated} would be rotated, {kept} kept; nothing was changed"
        ));
    } else {
        ctx.say(format!("rotated {rotated}, kept {kept}"));
    }
    if let (Some(ca), true) = (&out.new_ca, plan.ca.keep_key) {
        ctx.warn(format!(
            "RENEWED ROOT CA {} (serial {}, until {}) with the key of serial {}: certificates already issued keep working; \
             redeploy the store and the clients (`pki export marathon`, `pki export asp`, or deploy) before {} so they carry the new CA certificate",
            ca.subject,
            ca.serial,
            rfc3339(ca.not_after),
            plan.ca.serial,
            rfc3339(plan.ca.not_after)
        ));
    } else if let Some(ca) = &out.new_ca {
        ctx.warn(format!(
            "NEW ROOT CA {} (serial {}, until {}): the ephemeral store and ALL clients need the new env now; \
             redeploy the store with `pki export marathon` (or `pki deploy marathon`) and every client with its re-issued certificate and the new CA certificate",
            ca.subject,
            ca.serial,
            rfc3339(ca.not_after)
        ));
    } else if plan.ca.rotate && plan.ca.keep_key && dry_run {
        ctx.say(
            "dry run: the root CA would be renewed with its key; users keep their certificates",
        );
    } else if plan.ca.rotate && dry_run {
        ctx.say("dry run: a new root CA would be made; every user would be re-issued under it");
    } else if plan.ca.expired || plan.ca.not_yet_valid {
        ctx.warn(format!(
            "{}; run `pki rotate --ca --force` and redeploy the store and all clients",
            crate::ca::ca_unusable(plan.ca.expired, plan.ca.not_before, plan.ca.not_after)
        ));
    } else if plan.ca.due {
        ctx.warn(format!(
            "the root CA is inside its window (expires {}); plan a CA rotation: `pki rotate --ca`",
            rfc3339(plan.ca.not_after)
        ));
    }
    Ok(())
}

/// Set in the hook's environment: a `pki rotate` it runs leaves the
/// pending hook (its own) alone.
const IN_HOOK: &str = "PKI_ON_CHANGE";

/// Run the `--on-change` command once, after the index was committed and
/// the lock released (so the hook may run pki itself). Its stdout goes to
/// our stderr: our stdout carries only our own data.
fn run_hook(ctx: &Ctx, hook: &PendingHook) -> Result<()> {
    let cmd = &hook.command;
    let users: Vec<&str> = hook.issued.keys().map(String::as_str).collect();
    let serials: Vec<String> = hook
        .issued
        .iter()
        .map(|(u, s)| format!("{u}={s}"))
        .collect();
    // The hook's own pki calls work on this store: its address, with a
    // directory made absolute (the hook may change directory).
    let store = match ctx.store.dir() {
        Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()),
        None => ctx.store.name(),
    };
    let to_stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::inherit(), Stdio::from);
    ctx.detail(format!("running --on-change: {cmd}"));
    let mut sh = Command::new("sh");
    // PKI_DIR names a directory store only.
    match ctx.store.dir() {
        Some(_) => sh.env("PKI_DIR", &store),
        None => sh.env_remove("PKI_DIR"),
    };
    let status = sh
        .arg("-c")
        .arg(cmd)
        .env("PKI_STORE", &store)
        .env("PKI_ROTATED_USERS", users.join(" "))
        .env("PKI_NEW_SERIALS", serials.join(" "))
        .env(
            "PKI_CA_ROTATED",
            if hook.ca_serial.is_some() { "1" } else { "0" },
        )
        .env(IN_HOOK, "1")
        .stdin(Stdio::null())
        .stdout(to_stderr)
        .status();
    let what = match status {
        Ok(s) if s.success() => return Ok(()),
        Ok(s) => match s.code() {
            // sh's "command not found": typically cron's PATH (/usr/bin:/bin).
            Some(127) => "exited with status 127, sh's \"command not found\" (under cron PATH is /usr/bin:/bin: name each program by its absolute path, e.g. /usr/local/bin/pki)".into(),
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".into(),
        },
        Err(e) => format!("could not be started ({})", crate::error::one_line(&e)),
    };
    Err(Error::failed(
        format!("the --on-change command {what}; the rotation itself is done and committed (rotated: {})",
            if users.is_empty() { "the CA".to_string() } else { users.join(" ") }),
        "fix the command and run it by hand for this change; the next `pki rotate` will not run it again",
    ))
}
