//! SIGKILL at any instant of each `pki rollover` step (docs/rollover.md):
//! after each kill the same command again succeeds and the store verifies.
//! Moved from the rollover tests; slow, so ignored by default.

use crate::rollover::deploy_both;
use crate::support::common;
use crate::support::store::Phase;

use common::Env;

// ---- SIGKILL at any instant of each step ------------------------------------

/// Run `args` on copies of `template`, killing each run after a delay
/// spread over the length of an unkilled run; after each kill the same
/// command again must succeed, and the store must verify. Returns how many
/// kills landed before and after the commit (told apart by `committed`).
fn sweep(
    template: &Env,
    args: &[&str],
    trials: usize,
    committed: impl Fn(&Env) -> bool,
) -> (usize, usize) {
    // RSA key generation varies a lot from run to run, and more under load.
    let full = common::slowest_run(&|| template.copy_of(), args, 3);
    let (mut before, mut after) = (0, 0);
    // Kills spread over twice that; should every kill land on one side of
    // the commit, further rounds spread wider, up to four rounds.
    let mut i = 0;
    while i < trials || ((before == 0 || after == 0) && i < 4 * trials) {
        let round = (i / trials + 1) as f64;
        let delay = full.mul_f64(2.0 * round * (i % trials) as f64 / trials as f64);
        i += 1;
        let env = template.copy_of();
        common::kill_after(&env, args, delay);
        if committed(&env) {
            after += 1;
        } else {
            before += 1;
        }
        env.run(args).ok();
        assert!(committed(&env), "{args:?} after a kill at {delay:?}");
        env.run(&["verify"]).ok();
        env.run(&["audit", "verify"]).ok();
    }
    (before, after)
}

fn phase(env: &Env) -> Option<Phase> {
    env.index().rollover.map(|r| r.phase)
}

#[test]
#[ignore = "slow kill sweep: run with --ignored"]
fn every_rollover_step_survives_a_kill_at_any_instant() {
    let t = Env::new();
    t.run(&["init"]).ok();
    t.run(&["issue", "alice", "bob", "--key-type", "ecdsa-p256"])
        .ok();
    let (b, a) = sweep(&t, &["rollover", "start"], 24, |e| {
        phase(e) == Some(Phase::Trust)
    });
    assert!(
        b > 0 && a > 0,
        "start: {b} kills before the commit, {a} after"
    );

    t.run(&["rollover", "start"]).ok();
    deploy_both(&t, "client");
    let switch = ["rollover", "advance", "--to", "switch"];
    let (b, a) = sweep(&t, &switch, 24, |e| phase(e) == Some(Phase::Switch));
    assert!(
        b > 0 && a > 0,
        "switch: {b} kills before the commit, {a} after"
    );

    t.run(&switch).ok();
    deploy_both(&t, "client");
    let (b, a) = sweep(&t, &["rollover", "advance", "--to", "done"], 12, |e| {
        e.index().rollover.is_none()
    });
    assert!(b + a >= 12);

    let abort = sweep(&trust_store(), &["rollover", "abort"], 12, |e| {
        e.index().rollover.is_none()
    });
    assert!(abort.0 + abort.1 >= 12);
}

/// A store in phase trust.
fn trust_store() -> Env {
    let e = Env::new();
    e.run(&["init"]).ok();
    e.run(&["issue", "alice", "--key-type", "ecdsa-p256"]).ok();
    e.run(&["rollover", "start"]).ok();
    e
}
