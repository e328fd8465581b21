//! `pki rollover` (docs/rollover.md) through the real binary: the phases,
//! what the exports carry in each, abort, the guards on rotate, check and
//! a second rollover, and SIGKILL at any instant of each step.

mod common;

use std::process::Stdio;
use std::time::Instant;

use common::Env;
use pki::json::RolloverDoc;

fn status(env: &Env) -> RolloverDoc {
    serde_json::from_str(&env.run(&["rollover", "status", "--json"]).stdout).unwrap()
}

/// Serials of the certificates of a PEM bundle, in order (as openssl reads them).
fn bundle_serials(pem: &str) -> Vec<String> {
    ::pem::parse_many(pem)
        .unwrap()
        .iter()
        .map(|p| {
            pki::x509::cert::CertInfo::from_der(p.contents(), "bundle")
                .unwrap()
                .serial
        })
        .collect()
}

/// The store's Marathon env for alice: (CA cert bundle serials, CA key matches serial?).
fn store_env(env: &Env) -> serde_json::Value {
    env.run(&["export", "marathon", "--user", "alice"]).json()
}

/// Export the store's and the clients' halves, as an operator deploying a phase would.
fn deploy_both(env: &Env, out: &str) {
    store_env(env);
    env.run(&[
        "export", "files", "--user", "alice", "--out", out, "--force",
    ])
    .ok();
}

#[test]
fn each_phase_carries_the_documented_bundles_and_verifies() {
    let env = Env::with_users(&["alice", "bob"]);
    let before = status(&env);
    assert_eq!(before.phase, "none");
    let old = before.current_ca.serial.clone();
    let alice0 = env.index().active("alice").unwrap().serial.clone();

    // trust: old then new, old key; users still from the old CA.
    let started: RolloverDoc =
        serde_json::from_str(&env.run(&["rollover", "start", "--json"]).stdout).unwrap();
    assert_eq!(
        (started.action.as_str(), started.phase.as_str()),
        ("started", "trust")
    );
    let new = started.other_ca.as_ref().unwrap().serial.clone();
    assert_ne!(new, old);
    assert_eq!(started.store_ca_certs, [old.clone(), new.clone()]);
    assert_eq!(started.store_ca_key, old);
    assert_eq!(started.users_signed_by, old);
    assert_eq!(env.index().active("alice").unwrap().serial, alice0);
    env.run(&["verify"]).ok();
    // A retried start is a no-op; a rotation of users waits for the switch.
    env.run(&["rollover", "start"]).ok();
    assert_eq!(status(&env).other_ca.unwrap().serial, new);
    let r = env.run(&["rotate", "--force"]);
    r.ok();
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
    assert_eq!(env.index().active("alice").unwrap().serial, alice0);
    env.run(&["rotate", "--ca", "--force"])
        .code(4)
        .one_line_error(&["rollover is in progress", "pki rollover advance"]);
    env.run(&["init", "--force"])
        .code(4)
        .one_line_error(&["rollover is in progress"]);

    // advance refuses until both halves of the phase went out.
    let idx = env.index();
    env.run(&["rollover", "advance"]).code(4).one_line_error(&[
        "not deployed yet",
        "store export",
        "--force",
    ]);
    let e = store_env(&env);
    let bundle = e["EPHEMERAL_STORE_ROOT_CA_CERT"].as_str().unwrap();
    assert_eq!(bundle_serials(bundle), [old.clone(), new.clone()]);
    env.run(&["rollover", "advance"])
        .code(4)
        .one_line_error(&["not deployed yet", "client export"]);
    assert_eq!(env.index(), idx, "a refused advance changes nothing");
    env.run(&["export", "files", "--user", "alice", "--out", "client"])
        .ok();
    let client_ca = std::fs::read_to_string(env.path("client/ca.crt")).unwrap();
    assert_eq!(bundle_serials(&client_ca), [old.clone(), new.clone()]);

    // switch: new then old, new key; every user re-issued under the new CA.
    let adv: RolloverDoc = serde_json::from_str(
        &env.run(&["rollover", "advance", "--to", "switch", "--json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(
        (adv.action.as_str(), adv.phase.as_str()),
        ("advanced", "switch")
    );
    assert_eq!(adv.store_ca_certs, [new.clone(), old.clone()]);
    assert_eq!(adv.store_ca_key, new);
    assert_eq!(adv.issued.len(), 2);
    let idx = env.index();
    for u in ["alice", "bob"] {
        let c = idx.active(u).unwrap();
        assert_eq!(c.ca_serial, new, "{u}");
    }
    assert_eq!(idx.ca_history.last().unwrap().serial, old);
    let e = store_env(&env);
    assert_eq!(
        bundle_serials(e["EPHEMERAL_STORE_ROOT_CA_CERT"].as_str().unwrap()),
        [new.clone(), old.clone()]
    );
    // The key in the env is the new CA's: its public key is the first certificate's.
    let key = pki::x509::keys::PrivateKey::from_pem(
        e["EPHEMERAL_STORE_ROOT_CA_KEY"].as_str().unwrap(),
        "env",
    )
    .unwrap();
    let first = pki::x509::cert::CertInfo::from_pem(
        e["EPHEMERAL_STORE_ROOT_CA_CERT"].as_str().unwrap(),
        "env",
    )
    .unwrap();
    assert_eq!(key.public_key_der().unwrap(), first.spki_der);
    env.run(&["verify"]).ok();
    // A retried advance --to switch is a no-op; abort is refused from switch.
    env.run(&["rollover", "advance", "--to", "switch"]).ok();
    assert_eq!(env.index(), idx);
    env.run(&["rollover", "abort"])
        .code(4)
        .one_line_error(&["phase switch", "pki rollover advance"]);
    env.run(&["rollover", "advance", "--to", "done"])
        .code(4)
        .one_line_error(&["not deployed yet"]);

    // done: the new CA only.
    deploy_both(&env, "client");
    let done: RolloverDoc = serde_json::from_str(
        &env.run(&["rollover", "advance", "--to", "done", "--json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(
        (done.action.as_str(), done.phase.as_str()),
        ("done", "none")
    );
    assert_eq!(done.store_ca_certs, [new.as_str()]);
    let e = store_env(&env);
    assert_eq!(
        bundle_serials(e["EPHEMERAL_STORE_ROOT_CA_CERT"].as_str().unwrap()),
        [new.as_str()]
    );
    env.run(&["rollover", "advance", "--to", "done"]).ok();
    env.run(&["verify"]).ok();
    env.run(&["audit", "verify"]).ok();
    let audit = std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap();
    for ev in ["rollover-started", "ca-switched", "rollover-done"] {
        assert!(audit.contains(&format!("\"{ev}\"")), "{ev}");
    }
}

#[test]
fn abort_from_trust_leaves_every_export_as_it_was() {
    let env = Env::with_users(&["alice"]);
    let exports = |env: &Env| {
        let m = env.run(&["export", "marathon", "--user", "alice"]);
        m.ok();
        let k = env.run(&["export", "k8s", "--user", "alice"]);
        k.ok();
        env.run(&[
            "export", "files", "--user", "alice", "--out", "f", "--force",
        ])
        .ok();
        let files: Vec<Vec<u8>> = ["f/alice.crt", "f/alice.key", "f/ca.crt"]
            .iter()
            .map(|p| std::fs::read(env.path(p)).unwrap())
            .collect();
        (m.stdout.clone(), k.stdout.clone(), files)
    };
    let before = exports(&env);
    env.run(&["rollover", "start"]).ok();
    assert_ne!(exports(&env), before, "trust changes what the apps carry");
    let r = env.run(&["rollover", "abort", "--json"]);
    r.ok();
    let doc: RolloverDoc = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (doc.action.as_str(), doc.phase.as_str()),
        ("aborted", "none")
    );
    assert_eq!(exports(&env), before);
    env.run(&["rollover", "abort"]).ok();
    env.run(&["verify"]).ok();
    env.run(&["audit", "verify"]).ok();
}

#[test]
fn check_reports_a_rollover_left_half_done() {
    let mut env = Env::with_users(&["alice"]);
    env.run(&["rollover", "start"]).ok();
    env.run(&["check"]).ok();
    // The same store, eight days on.
    let at = (time::OffsetDateTime::now_utc() + time::Duration::days(8))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    env.var("PKI_NOW", &at);
    let r = env.run(&["check"]);
    r.code(3);
    assert!(r.stderr.contains("in phase trust since"), "{}", r.stderr);
    let doc: pki::json::CheckDoc =
        serde_json::from_str(&env.run(&["check", "--json"]).stdout).unwrap();
    assert!(doc
        .rollover_warning
        .unwrap()
        .contains("pki rollover advance"));
}

// ---- SIGKILL at any instant of each step ------------------------------------

/// Copy the store of `template` into a fresh scratch directory.
fn copy_of(template: &Env) -> Env {
    let env = Env::new();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(template.store())
        .arg(env.store())
        .status()
        .unwrap();
    assert!(status.success());
    env
}

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
    let t0 = Instant::now();
    copy_of(template).run(args).ok();
    let full = t0.elapsed();
    let (mut before, mut after) = (0, 0);
    for i in 0..trials {
        let env = copy_of(template);
        let delay = full.mul_f64(1.2 * i as f64 / trials as f64);
        let mut child = env
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
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

fn phase(env: &Env) -> Option<pki::store::Phase> {
    env.index().rollover.map(|r| r.phase)
}

#[test]
fn every_rollover_step_survives_a_kill_at_any_instant() {
    let t = Env::new();
    t.run(&["init"]).ok();
    t.run(&["issue", "alice", "bob", "--key-type", "ecdsa-p256"])
        .ok();
    let (b, a) = sweep(&t, &["rollover", "start"], 24, |e| {
        phase(e) == Some(pki::store::Phase::Trust)
    });
    assert!(
        b > 0 && a > 0,
        "start: {b} kills before the commit, {a} after"
    );

    t.run(&["rollover", "start"]).ok();
    deploy_both(&t, "client");
    let switch = ["rollover", "advance", "--to", "switch"];
    let (b, a) = sweep(&t, &switch, 24, |e| {
        phase(e) == Some(pki::store::Phase::Switch)
    });
    assert!(
        b > 0 && a > 0,
        "switch: {b} kills before the commit, {a} after"
    );

    t.run(&switch).ok();
    deploy_both(&t, "client");
    let (b, a) = sweep(&t, &["rollover", "advance", "--to", "done"], 12, |e| {
        e.index().rollover.is_none()
    });
    assert!(b + a == 12);

    let abort = sweep(&copy_of_trust(&t), &["rollover", "abort"], 12, |e| {
        e.index().rollover.is_none()
    });
    assert_eq!(abort.0 + abort.1, 12);
}

/// A store in phase trust (a fresh one: `t` is past it).
fn copy_of_trust(_t: &Env) -> Env {
    let e = Env::new();
    e.run(&["init"]).ok();
    e.run(&["issue", "alice", "--key-type", "ecdsa-p256"]).ok();
    e.run(&["rollover", "start"]).ok();
    e
}
