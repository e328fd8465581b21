//! The kill test of `pki rotate`: 240 SIGKILLs spread over its run, each
//! leaving the store wholly old or wholly new, and verifying. Moved from
//! the rotate tests; slow, so ignored by default.

use crate::rotate::{store_at_t0, T0};
use crate::support::common;
use crate::support::rotation;

use common::{active_serials, count_files, indexed_files, kill_after, slowest_run, Env};
use rotation::index;

// ---- the kill test ----------------------------------------------------------

/// Kill `pki rotate` at `trials` points spread over its run; after each,
/// `pki verify` passes, nothing ever indexed is gone, and every user's
/// current pair is wholly old or wholly new (all switch together: one
/// index write). Returns the trials ending old, ending new, and ending old
/// with orphan files of the interrupted run beside it.
fn kill_sweep(template: &Env, trials: usize) -> (usize, usize, usize) {
    let now = "2026-01-25T00:00:00Z";
    let tix = index(template);
    let old = active_serials(&tix);
    let fresh = || {
        let mut env = template.copy_of();
        env.var("PKI_NOW", now);
        env
    };
    // How long a whole run takes here (the slowest of three).
    let run_time = slowest_run(&fresh, &["rotate"], 3);
    let (mut olds, mut news, mut debris) = (0, 0, 0);
    let template_files = count_files(&template.store());
    for i in 0..trials {
        let env = fresh();
        // Delays from 0 to 120% of the run, in even steps.
        let delay = run_time.mul_f64(1.2 * i as f64 / trials as f64);
        kill_after(&env, &["rotate"], delay);

        let r = env.run(&["verify", "--json"]);
        assert_eq!(
            r.code, 0,
            "trial {i} (delay {delay:?}): verify failed:\n{}",
            r.stdout
        );
        let ix = index(&env);
        let files = indexed_files(&ix);
        for (serial, (cert, key)) in indexed_files(&tix).iter().chain(&files) {
            assert!(
                env.store().join(cert).is_file(),
                "trial {i}: {serial} certificate lost"
            );
            if let Some(k) = key {
                assert!(
                    env.store().join(k).is_file(),
                    "trial {i}: {serial} key lost"
                );
            }
        }
        let now_active = active_serials(&ix);
        assert_eq!(
            now_active.keys().collect::<Vec<_>>(),
            old.keys().collect::<Vec<_>>()
        );
        let unchanged = now_active.iter().filter(|(u, s)| old[*u] == **s).count();
        if unchanged == old.len() {
            olds += 1;
            // Killed after writing some new files but before the commit:
            // the debris is orphans no index names, and verify still passed.
            if count_files(&env.store()) > template_files {
                debris += 1;
            }
        } else {
            assert_eq!(
                unchanged, 0,
                "trial {i}: some users switched, some not: {now_active:?}"
            );
            news += 1;
        }
        // Every twentieth trial: a later run finishes the job over the debris.
        if i % 20 == 0 {
            env.run(&["rotate"]).ok();
            env.run(&["verify"]).ok();
            assert!(active_serials(&index(&env))
                .iter()
                .all(|(u, s)| old[u] != *s));
        }
    }
    (olds, news, debris)
}

#[test]
#[ignore = "slow kill sweep: run with --ignored"]
fn killed_at_any_instant_the_store_is_old_or_new_and_verifies() {
    let ec = store_at_t0(&[("a", "30"), ("b", "30"), ("c", "30")]);
    let mut rsa = Env::new();
    rsa.var("PKI_NOW", T0);
    rsa.run(&["init"]).ok();
    rsa.run(&["issue", "r1", "r2", "--days", "30"]).ok();
    let (o1, n1, d1) = kill_sweep(&ec, 200);
    let (o2, n2, d2) = kill_sweep(&rsa, 40);
    eprintln!("ecdsa: {o1} old ({d1} with orphans), {n1} new; rsa: {o2} old ({d2} with orphans), {n2} new");
    // The sweep covered the run: some kills landed before the commit, some after.
    assert!(o1 > 0 && n1 > 0, "ecdsa sweep: {o1} old, {n1} new");
    assert!(o2 > 0 && n2 > 0, "rsa sweep: {o2} old, {n2} new");
    // ... and some between the first new file and the commit.
    assert!(d1 + d2 > 0, "no kill landed while files were being written");
}
