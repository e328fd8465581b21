//! The kill sweep on a store in Vault (issue #19): `issue`, `rotate`,
//! `crl` and the `rollover` steps (start, advance to switch, advance to
//! done) SIGKILLed at instants spread from 0 to 120% of their run, each on
//! a fresh copy of one store in the shared dev server. After each kill:
//!
//! - `verify` and `audit verify` pass;
//! - the very same command, without `--force` and without `--wait`,
//!   succeeds (or, when the killed run had committed, `issue` says the
//!   users have a certificate already). A lock the killed run left is
//!   taken over at once, since its holder was a process of this host that
//!   is gone: the lease is an hour here, so it cannot have run out, and a
//!   live holder would be exit 4;
//! - `verify` and `audit verify` pass again, the command's effect is in
//!   the index, every change the index holds is in the audit log, and the
//!   lock is released.

use serde_json::Value;

use crate::kill_sweeps::writes::{sound, user_state};
use crate::rollover::deploy_both;
use crate::support::bao::Bao;
use crate::support::common::{kill_after, slowest_run, Env};
use crate::support::vault_env::{assert_audit_covers, InVault};

/// The writers' lease: far longer than the sweep, so only the takeover of
/// a holder that is gone can explain a repeat that got the lock.
const LEASE: &str = "3600";
/// The clock of the trials of `issue` and `rotate`: the 30-day
/// certificates their templates made at T0 are due, not expired.
const NOW: &str = "2026-01-25T00:00:00Z";

/// One command to kill over and over.
struct Sweep {
    name: &'static str,
    template: InVault,
    args: &'static [&'static str],
    /// PKI_NOW of the trials (None: the real clock).
    now: Option<&'static str>,
    trials: usize,
    /// What a repeat may answer (exit 4) when the killed run had committed.
    done_refusal: Option<&'static str>,
    /// The command's effect, checked on the index after the repeat.
    effect: fn(&Value),
}

/// What the kills found, for the summary and the coverage asserts.
#[derive(Default, Debug)]
struct Seen {
    /// Kills before the commit (the index unchanged) ...
    before: usize,
    /// ... of which left objects no index names.
    orphans: usize,
    after: usize,
    /// Kills that left the lock behind, taken over by the repeat.
    lock_left: usize,
}

/// A copy of `template` at a fresh prefix, and a scratch directory whose
/// runs use it with the sweep's clock and lease.
fn trial(bao: &Bao, template: &InVault, now: Option<&str>) -> (InVault, Env) {
    let store = template.copy_to(&bao.fresh_prefix());
    let mut env = store.env();
    env.var("PKI_VAULT_LEASE", LEASE);
    if let Some(now) = now {
        env.var("PKI_NOW", now);
    }
    (store, env)
}

/// A copy of `base` at a fresh prefix, after `steps` (each must succeed).
fn derive(bao: &Bao, base: &InVault, now: Option<&str>, steps: &[&[&str]]) -> InVault {
    let (store, env) = trial(bao, base, now);
    for s in steps {
        env.run(s).ok();
    }
    store
}

fn sweep(bao: &Bao, s: &Sweep, seen: &mut Seen) {
    let fresh = || trial(bao, &s.template, s.now).1;
    let run_time = slowest_run(&fresh, s.args, 3);
    eprintln!("{}: a whole run takes {run_time:?}", s.name);
    for i in 0..s.trials {
        let (store, env) = trial(bao, &s.template, s.now);
        let before = store.index();
        let objects = store.objects().len();
        let delay = run_time.mul_f64(1.2 * i as f64 / s.trials as f64);
        let when = format!("{} trial {i} (killed after {delay:?})", s.name);
        kill_after(&env, s.args, delay);

        let committed = store.index() != before;
        if committed {
            seen.after += 1;
        } else {
            seen.before += 1;
            if store.objects().len() > objects {
                seen.orphans += 1;
            }
        }
        if let Some(holder) = store.lock() {
            seen.lock_left += 1;
            let pid = holder["pid"].as_u64().unwrap();
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{when}: the lock's holder {holder} is alive"
            );
        }
        sound(&env, None, &format!("{when}, before the repeat"));
        // The commit carried the index and its audit lines together.
        assert_audit_covers(&store.index().unwrap(), &store.audit(), &when);

        // The very same command again: no --force, no --wait.
        let r = env.run(s.args);
        match (r.code, s.done_refusal) {
            (0, _) => {}
            (4, Some(word)) if committed => {
                r.one_line_error(&[word]);
            }
            _ => panic!(
                "{when}: the repeat failed (committed: {committed}), exit {}:\n{}",
                r.code, r.stderr
            ),
        }
        sound(&env, None, &format!("{when}, after the repeat"));
        let index = store.index().expect("a store after the repeat");
        (s.effect)(&index);
        assert_audit_covers(&index, &store.audit(), &when);
        assert_eq!(store.lock(), None, "{when}: the lock was not released");
    }
}

#[test]
#[ignore = "slow kill sweep: run with --ignored"]
fn killed_at_any_instant_on_vault_the_same_command_then_succeeds() {
    let Some(bao) = Bao::shared() else {
        return;
    };
    // One RSA CA (what the ASP store needs, and rollover's exports carry)
    // for every template; users with 30-day ECDSA keys, quick to make.
    let base = {
        let store = InVault::new(&bao.env(), &bao.fresh_prefix());
        let mut env = store.env();
        env.var("PKI_NOW", "2026-01-01T00:00:00Z");
        env.run(&["init"]).ok();
        store
    };
    let t0 = Some("2026-01-01T00:00:00Z");
    let users = |names: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["issue", "--days", "30", "--key-type", "ecdsa-p256"];
        v.extend_from_slice(names);
        v
    };
    let in_trust = derive(
        bao,
        &base,
        None,
        &[&users(&["alice", "bob"]), &["rollover", "start"]],
    );
    deploy_both(&in_trust.env(), "client");
    let in_switch = derive(
        bao,
        &in_trust,
        None,
        &[&["rollover", "advance", "--to", "switch"]],
    );
    deploy_both(&in_switch.env(), "client");

    let sweeps = [
        Sweep {
            name: "issue",
            template: derive(bao, &base, t0, &[&users(&["alice"])]),
            args: &["issue", "u1", "u2", "u3", "--key-type", "ecdsa-p256"],
            now: Some(NOW),
            trials: 12,
            done_refusal: Some("already has a certificate"),
            effect: |ix| {
                for u in ["u1", "u2", "u3"] {
                    assert_eq!(user_state(ix, u), ["active"], "{u}");
                }
            },
        },
        Sweep {
            name: "rotate",
            template: derive(bao, &base, t0, &[&users(&["a", "b", "c"])]),
            args: &["rotate"],
            now: Some(NOW),
            trials: 12,
            done_refusal: None,
            effect: |ix| {
                for u in ["a", "b", "c"] {
                    assert_eq!(user_state(ix, u), ["superseded", "active"], "{u}");
                }
            },
        },
        Sweep {
            name: "crl",
            template: derive(
                bao,
                &base,
                None,
                &[&users(&["alice", "bob"]), &["revoke", "bob"], &["crl"]],
            ),
            args: &["crl", "--out", "published.crl", "--format", "der"],
            now: None,
            trials: 10,
            done_refusal: None,
            effect: |ix| {
                let n = ix["crl"]["number"].as_u64().unwrap();
                assert!(n >= 2, "CRL number {n}");
                assert_eq!(ix["crl"]["path"], format!("crl/{n}.crl"));
            },
        },
        Sweep {
            name: "rollover start",
            template: derive(bao, &base, None, &[&users(&["alice", "bob"])]),
            args: &["rollover", "start"],
            now: None,
            trials: 8,
            done_refusal: None,
            effect: |ix| assert_eq!(ix["rollover"]["phase"], "trust"),
        },
        Sweep {
            name: "rollover advance --to switch",
            template: in_trust,
            args: &["rollover", "advance", "--to", "switch"],
            now: None,
            trials: 8,
            done_refusal: None,
            effect: |ix| {
                assert_eq!(ix["rollover"]["phase"], "switch");
                for u in ["alice", "bob"] {
                    assert_eq!(user_state(ix, u), ["superseded", "active"], "{u}");
                }
            },
        },
        Sweep {
            name: "rollover advance --to done",
            template: in_switch,
            args: &["rollover", "advance", "--to", "done"],
            now: None,
            trials: 6,
            done_refusal: None,
            effect: |ix| assert!(ix["rollover"].is_null(), "{}", ix["rollover"]),
        },
    ];
    let total: usize = sweeps.iter().map(|s| s.trials).sum();
    let mut seen = Seen::default();
    for s in &sweeps {
        let mut one = Seen::default();
        sweep(bao, s, &mut one);
        eprintln!("{}: {one:?}", s.name);
        seen.before += one.before;
        seen.orphans += one.orphans;
        seen.after += one.after;
        seen.lock_left += one.lock_left;
    }
    eprintln!("all {total} kills: {seen:?}");
    // The kills covered the runs: before and after the commit, while
    // objects were being written, and while the lock was held.
    assert!(seen.before > 0 && seen.after > 0, "{seen:?}");
    assert!(
        seen.orphans > 0,
        "no kill landed while objects were written: {seen:?}"
    );
    assert!(
        seen.lock_left > 0,
        "no kill left the lock to take over: {seen:?}"
    );
}
