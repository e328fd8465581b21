//! A staged CA rollover (docs/rollover.md): the store and its clients
//! trust two CAs for a while, so every app can be redeployed on its own
//! time and every login keeps working.
//!
//! ```text
//!   (none) --start--> trust --advance--> switch --advance--> (done)
//!                       |
//!                       +--abort--> (none)
//! ```
//!
//! - `trust`: the new CA is made and trusted beside the current one, which
//!   still signs. Store CA file = old then new (old key); clients' root CA
//!   = old and new; user certificates from the old CA.
//! - `switch`: the new CA is current and signs; every user whose key the
//!   store holds is re-issued under it. Store CA file = new then old (new
//!   key); clients' root CA = new and old; user certificates from the new CA.
//! - done: the new CA only; the old one is in history.
//!
//! Each step is one store transaction (one index commit), so a kill at any
//! instant leaves the store at the step before or the step after.

use time::{Duration, OffsetDateTime};

use crate::ca::issue::{issued_events, reissue, Issued, Renewal};
use crate::ca::key::{signer_for, Passphrase};
use crate::ca::plan::lifetime_days;
use crate::ca::{create_successor, install_ca};
use crate::error::{Error, Result};
use crate::store::audit::{self, Event, Kind};
use crate::store::{CaEntry, Index, Phase, Rollover, Tx};
use crate::x509::cert::rfc3339;
use crate::x509::keys::KeyType;

/// Audit commands that carry the store's half (its CA certificate and key).
pub const STORE_EXPORTS: [&str; 3] = ["export marathon", "deploy marathon", "export k8s"];
/// Audit commands that carry the clients' half (user keys and the root CA).
pub const CLIENT_EXPORTS: [&str; 4] = ["export asp", "deploy asp", "export k8s", "export files"];

/// Audit commands that set the ASP controller's `ASP_EPHEMERAL_STORE`.
pub const CONTROLLER_EXPORTS: [&str; 2] = ["export asp", "deploy asp"];

/// How long a rollover may sit in one phase before `pki check` calls it
/// half-done: a week is enough for any redeploy; longer is forgotten.
pub const STALE_AFTER: Duration = Duration::days(7);

/// Start a rollover: make the new CA (written beside the current one,
/// recorded as the rollover's other CA; the current CA's key type and
/// lifetime unless given) and enter `trust`.
/// Idempotent: when a rollover is already in `trust` (a retry after a
/// kill, say) it returns None and changes nothing; one in `switch` is refused.
pub fn start(
    tx: &mut Tx<'_>,
    key_type: Option<KeyType>,
    days: Option<u32>,
    pass: &Passphrase,
) -> Result<Option<CaEntry>> {
    match &tx.index.rollover {
        Some(r) if r.phase == Phase::Trust => return Ok(None),
        _ => refuse_during(&tx.index)?,
    }
    let ca = tx.index.ca(tx.store)?;
    let key_type = key_type.unwrap_or(ca.key_type);
    let days = days.unwrap_or_else(|| lifetime_days(ca.not_before, ca.not_after));
    let (mut entry, _signer) =
        create_successor(tx.store, &tx.index, key_type, days, None, pass, tx.now)?;
    // Its certificates are in use beside the current CA's, each checked
    // against its own issuer's CRL: they name a CRL URL of its own.
    entry.own_crl_url = true;
    tx.index.rollover = Some(Rollover {
        phase: Phase::Trust,
        other: entry.clone(),
        started_at: tx.now,
        phase_since: tx.now,
        crl: None,
    });
    tx.record(
        Event::new("rollover", Kind::RolloverStarted)
            .serial(&entry.serial)
            .detail(format!(
                "new CA {} ({}), trusted beside CA serial {}; phase trust",
                entry.subject,
                entry.key_type,
                tx.index.ca(tx.store)?.serial
            )),
    );
    Ok(Some(entry))
}

/// The phase `advance --to` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Switch,
    Done,
}

/// What one `advance` did.
pub struct Advanced {
    /// The phase now; None when the rollover is done.
    pub phase: Option<Phase>,
    /// Users re-issued under the new CA (entering `switch`).
    pub issued: Vec<Issued>,
    /// Users that could not be re-issued (their key is not in the store).
    pub superseded: Vec<String>,
    pub warnings: Vec<String>,
}

/// Move one phase on: `trust` to `switch` (the new CA becomes current,
/// every user with a key in the store is re-issued under it), `switch` to
/// done. Unless `force`, refused until both halves of the current phase
/// were exported or deployed since it began (the audit log says so).
///
/// With `to`, idempotent: a rollover already at (or past) `to` is left as
/// it is (None), and `to` must be the next phase.
pub fn advance(
    tx: &mut Tx<'_>,
    to: Option<Target>,
    force: bool,
    log: &[audit::Entry],
    pass: &Passphrase,
) -> Result<Option<Advanced>> {
    let phase = tx.index.rollover.as_ref().map(|r| r.phase);
    match (to, phase) {
        (Some(Target::Done), None) | (Some(Target::Switch), Some(Phase::Switch)) => {
            return Ok(None)
        }
        (Some(Target::Done), Some(Phase::Trust)) => {
            return Err(Error::usage(
                "the rollover is in phase trust; it advances one phase at a time",
                "advance --to switch first, deploy both apps, then --to done",
            ))
        }
        _ => {}
    }
    let r = tx.index.rollover.clone().ok_or_else(none)?;
    if !force {
        if let Some(missing) = undeployed(&r, log) {
            return Err(Error::refused(
                format!(
                    "the {} phase is not deployed yet: no {missing} since {}",
                    r.phase.name(),
                    rfc3339(r.phase_since)
                ),
                "deploy what `pki rollover status` lists, wait until every task is healthy, then advance (or pass --force if it was deployed another way)",
            ));
        }
        let missing = left_out(&r, log);
        if !missing.is_empty() {
            return Err(Error::refused(
                format!(
                    "the ASP controller held {} at its last export or deploy, but no export or deploy of the controller carried {} since phase {} began: {} the old CA's certificates, which done stops trusting",
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" },
                    r.phase.name(),
                    if missing.len() == 1 { "it keeps" } else { "they keep" },
                ),
                format!(
                    "deploy them too (pki deploy asp --user {} or --all-users), drop the ones that should go with --remove, then advance (or pass --force if they were delivered another way)",
                    missing.join(" ")
                ),
            ));
        }
    }
    match r.phase {
        Phase::Trust => {
            let new = r.other.clone();
            let signer = signer_for(tx.store, &new, pass)?;
            let renewals: Vec<Renewal> = tx
                .index
                .active_all()
                .filter(|c| c.key.is_some())
                .map(|c| Renewal {
                    user: c.user.clone(),
                    key_type: c.key_type,
                    days: lifetime_days(c.not_before, c.not_after),
                })
                .collect();
            let superseded: Vec<String> = tx
                .index
                .active_all()
                .filter(|c| c.key.is_none())
                .map(|c| c.user.clone())
                .collect();
            let (issued, mut warnings) = reissue(tx, &signer, &renewals, None)?;
            let old = tx.index.ca(tx.store)?.clone();
            let (_, ev) = install_ca(
                &mut tx.index,
                new,
                "rollover",
                Kind::CaSwitched,
                issued.len(),
            );
            tx.record(ev);
            tx.record_all(issued_events("rollover", &issued));
            for u in &superseded {
                warnings.push(format!(
                    "{u}: superseded with the old CA: its key is not in the store (signed from a CSR); sign a new CSR with `pki sign`"
                ));
            }
            // The CRL records follow their CAs: the new CA's becomes the
            // current one, the old CA's the other's.
            let old_crl = std::mem::replace(&mut tx.index.crl, r.crl.clone());
            tx.index.rollover = Some(Rollover {
                phase: Phase::Switch,
                other: old,
                started_at: r.started_at,
                phase_since: tx.now,
                crl: old_crl,
            });
            Ok(Some(Advanced {
                phase: Some(Phase::Switch),
                issued,
                superseded,
                warnings,
            }))
        }
        Phase::Switch => {
            tx.index.rollover = None;
            tx.record(
                Event::new("rollover", Kind::RolloverDone)
                    .serial(&tx.index.ca(tx.store)?.serial)
                    .detail(format!("CA serial {} is no longer trusted", r.other.serial)),
            );
            Ok(Some(Advanced {
                phase: None,
                issued: Vec::new(),
                superseded: Vec::new(),
                warnings: Vec::new(),
            }))
        }
    }
}

/// Give up a rollover in `trust`: the new CA is dropped (its files stay in
/// `ca/`, named by no index), and the store is as it was before `start`.
/// From `switch`, users already carry the new CA's certificates, so abort
/// is refused with what to do instead.
/// Idempotent: with no rollover in progress it returns None.
pub fn abort(tx: &mut Tx<'_>) -> Result<Option<CaEntry>> {
    let Some(r) = tx.index.rollover.clone() else {
        return Ok(None);
    };
    if r.phase == Phase::Switch {
        return Err(Error::refused(
            "the rollover is in phase switch: the new CA is current and every user was re-issued under it, so there is no old state to return to",
            "finish it with `pki rollover advance` once both apps carry the switch material; to leave the new CA, start another rollover later",
        ));
    }
    tx.index.rollover = None;
    tx.record(
        Event::new("rollover", Kind::RolloverAborted)
            .serial(&r.other.serial)
            .detail("the new CA was dropped; the current CA stays".to_string()),
    );
    Ok(Some(r.other))
}

/// The half of the current phase that has not been exported or deployed
/// since it began, if any: "store export" or "client export".
///
/// "Since" is audit order, not clock time: only deliveries recorded after
/// the entry that began the phase (`rollover-started` for trust,
/// `ca-switched` for switch; the last one, so an aborted earlier rollover
/// does not count) are evidence, so an export made while the clock was
/// ahead (or that carried the previous phase's material) never passes for
/// one of this phase. With no such entry in the log, nothing counts.
pub fn undeployed(r: &Rollover, log: &[audit::Entry]) -> Option<&'static str> {
    let began = phase_began(r, log);
    // `export k8s --clients-only` carries no CA key: only the clients' half.
    let since = |cmds: &[&str], ca_key: bool| {
        log.iter().any(|e| {
            cmds.contains(&e.command.as_str())
                && (!ca_key || e.kind().is_some_and(Kind::carries_ca_key))
                && in_phase(began, e)
        })
    };
    if !since(&STORE_EXPORTS, true) {
        Some("store export (export marathon, deploy marathon or export k8s)")
    } else if !since(&CLIENT_EXPORTS, false) {
        Some("client export (export asp, deploy asp, export k8s or export files)")
    } else {
        None
    }
}

/// The users the ASP controller held at its last export or deploy (as its
/// audit detail records them) that no export or deploy of the controller
/// carried since the phase began. Only in `switch`: there the users are
/// re-issued under the new CA, and one left out keeps a certificate of the
/// old CA, which `done` stops trusting. (In `trust` a controller deploy
/// sets the trust bundle for every user it holds, and their certificates
/// are still the current CA's.)
pub fn left_out(r: &Rollover, log: &[audit::Entry]) -> Vec<String> {
    if r.phase != Phase::Switch {
        return Vec::new();
    }
    let controller =
        |e: &audit::Entry| CONTROLLER_EXPORTS.contains(&e.command.as_str()) && e.delivered();
    let Some(held) = log
        .iter()
        .rev()
        .filter(|e| controller(e))
        .find_map(|e| e.detail.as_deref().and_then(controller_users))
    else {
        return Vec::new();
    };
    let began = phase_began(r, log);
    held.into_iter()
        .filter(|u| {
            !log.iter().any(|e| {
                controller(e) && in_phase(began, e) && e.user.as_deref() == Some(u.as_str())
            })
        })
        .collect()
}

/// Whether `e` delivered something since the rollover's phase began.
/// The audit sequence number of the line that began the current phase
/// (`rollover-started` for trust, `ca-switched` for switch): what was
/// delivered after it counts for this phase, whatever the clock said.
fn phase_began(r: &Rollover, log: &[audit::Entry]) -> Option<u64> {
    let began = match r.phase {
        Phase::Trust => Kind::RolloverStarted,
        Phase::Switch => Kind::CaSwitched,
    };
    log.iter()
        .rev()
        .find(|e| e.command == "rollover" && e.kind() == Some(began))
        .map(|e| e.seq)
}

/// A delivery recorded after the phase began ([`phase_began`]); none
/// counts when that line is missing.
fn in_phase(began: Option<u64>, e: &audit::Entry) -> bool {
    began.is_some_and(|b| e.seq > b) && e.delivered()
}

/// How an export or deploy of the ASP controller records, at the end of
/// its audit detail, the users the controller holds after it.
const CONTROLLER_USERS: &str = "; controller users: ";

/// The audit-detail suffix naming the users a controller holds (a JSON list).
pub fn controller_users_detail(users: &[String]) -> String {
    format!(
        "{CONTROLLER_USERS}{}",
        serde_json::to_string(users).expect("strings encode")
    )
}

/// The users an audit detail says the controller holds, if it says so.
fn controller_users(detail: &str) -> Option<Vec<String>> {
    let (_, list) = detail.rsplit_once(CONTROLLER_USERS)?;
    serde_json::from_str(list).ok()
}

/// A rollover left in one phase for longer than [`STALE_AFTER`], for `pki check`.
pub fn stale(index: &Index, now: OffsetDateTime) -> Option<String> {
    let r = index.rollover.as_ref()?;
    (now - r.phase_since > STALE_AFTER).then(|| {
        format!(
            "a CA rollover has been in phase {} since {} ({} days): deploy what `pki rollover status` lists and run `pki rollover advance`",
            r.phase.name(),
            rfc3339(r.phase_since),
            (now - r.phase_since).whole_days()
        )
    })
}

/// The refusal of a second rollover, or of a CA rotation, while one runs.
pub fn in_progress(r: &Rollover) -> Error {
    Error::refused(
        format!(
            "a CA rollover is in progress (phase {} since {})",
            r.phase.name(),
            rfc3339(r.phase_since)
        ),
        "finish it with `pki rollover advance` (see `pki rollover status`), or `pki rollover abort` in phase trust",
    )
}

/// Refuse to replace the CA another way (init --force, import, rotate
/// --ca) while a rollover runs.
pub fn refuse_during(index: &Index) -> Result<()> {
    match &index.rollover {
        Some(r) => Err(in_progress(r)),
        None => Ok(()),
    }
}

fn none() -> Error {
    Error::input(
        "no CA rollover is in progress",
        "start one with `pki rollover start`; `pki rollover status` shows the state",
    )
}
