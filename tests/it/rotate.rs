//! `pki rotate`: decisions with the clock injected (PKI_NOW), history,
//! idempotence, --on-change, concurrency, CA rotation (the kill test is in
//! kill_sweeps).
//!
//! The tests listed in `each_backend!` at the end run once on a directory
//! store and once on a store in OpenBao (support/backend.rs).

use crate::support::common;
use crate::support::rotation;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Stdio;

use crate::support::docs::{ListDoc, RotateDoc};
use common::{Backend, Env};
use rotation::{chains, index};

pub(crate) const T0: &str = "2026-01-01T00:00:00Z";

fn rotate_doc(r: &common::Run) -> RotateDoc {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// user -> (action, reason) of a rotate document.
fn actions(d: &RotateDoc) -> BTreeMap<String, (String, String)> {
    d.actions
        .iter()
        .map(|a| (a.user.clone(), (a.action.clone(), a.reason.clone())))
        .collect()
}

/// A store made at T0 with `users` (name, days).
pub(crate) fn store_at_t0(users: &[(&str, &str)]) -> Env {
    store_at_t0_on(Backend::Dir, users)
}

/// [`store_at_t0`] on `backend`.
fn store_at_t0_on(backend: Backend, users: &[(&str, &str)]) -> Env {
    rotation::store_at_on(backend, T0, &[], users)
}

fn due_not_due_and_expired_with_the_clock_injected(backend: Backend) {
    // alice: 100 days, due (33%) from day 67; bob: 365 days.
    let mut env = store_at_t0_on(backend, &[("alice", "100"), ("bob", "365")]);
    // Day 66: nothing due; a dry run and a real run change nothing.
    env.var("PKI_NOW", "2026-03-08T00:00:00Z");
    let before = env.snapshot(&env.store());
    let d = rotate_doc(env.run(&["rotate", "--json"]).ok());
    assert!(
        d.actions
            .iter()
            .all(|a| a.action == "keep" && a.new_serial.is_none()),
        "{d:?}"
    );
    assert_eq!(env.snapshot(&env.store()), before);

    // Day 70: alice is due; the dry run says so and changes nothing.
    env.var("PKI_NOW", "2026-03-12T00:00:00Z");
    let d = rotate_doc(env.run(&["rotate", "--dry-run", "--json"]).ok());
    assert!(d.dry_run);
    let a = actions(&d);
    assert_eq!(a["alice"].0, "rotate");
    assert!(
        a["alice"].1.contains("inside the 33% window"),
        "{:?}",
        a["alice"]
    );
    assert_eq!(a["bob"].0, "keep");
    assert!(a["bob"].1.starts_with("not due"), "{:?}", a["bob"]);
    assert!(d.actions.iter().all(|a| a.new_serial.is_none()));
    assert_eq!(env.snapshot(&env.store()), before);
    // A 30d window: alice (30 days left) is due, bob is not; 12h: neither.
    let d = rotate_doc(
        env.run(&["rotate", "--dry-run", "--json", "--within", "30d"])
            .ok(),
    );
    assert_eq!(actions(&d)["alice"].0, "rotate");
    let d = rotate_doc(
        env.run(&["rotate", "--dry-run", "--json", "--within", "12h"])
            .ok(),
    );
    assert!(d.actions.iter().all(|a| a.action == "keep"));

    // Day 101: alice expired. Rotate re-issues her with her 100-day lifetime.
    env.var("PKI_NOW", "2026-04-12T00:00:00Z");
    let old_alice = env.user_files("alice");
    let r = env.run(&["rotate", "--json"]);
    let d = rotate_doc(r.ok());
    assert!(!d.dry_run && !d.ca.due && !d.ca.rotated);
    let a = d.actions.iter().find(|a| a.user == "alice").unwrap();
    assert!(
        a.reason.starts_with("expired on 2026-04-11"),
        "{}",
        a.reason
    );
    let new_serial = a.new_serial.clone().expect("alice was re-issued");
    let ix = index(&env);
    let cur = ix["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == new_serial.as_str())
        .unwrap();
    assert_eq!(cur["state"], "active");
    assert_eq!(cur["not_after"], "2026-07-21T00:00:00Z", "100 days kept");
    assert_eq!(cur["key_type"], "ecdsa-p256", "key type kept");
    let (cert, key) = env.user_files("alice");
    assert!(std::fs::read_to_string(key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    // The old pair stays, as history, and list --all shows it.
    assert!(old_alice.0.exists() && old_alice.1.exists());
    let list: ListDoc =
        serde_json::from_str(&env.run(&["list", "--all", "--json"]).ok().stdout).unwrap();
    let statuses: Vec<_> = list
        .certificates
        .iter()
        .filter(|c| c.user == "alice")
        .map(|c| c.status.as_str())
        .collect();
    // The current certificate first, then its history (issue 14).
    assert_eq!(statuses, ["valid", "superseded"]);
    let (ok, out) = chains(&env.ca_files().0, &cert, "1776000000");
    assert!(ok, "{out}");

    // Idempotent: a second run right after the first changes nothing.
    let before = env.snapshot(&env.store());
    let d = rotate_doc(env.run(&["rotate", "--json"]).ok());
    assert!(d.actions.iter().all(|a| a.action == "keep"));
    assert_eq!(env.snapshot(&env.store()), before);
    // Human output of a no-op run: nothing on stdout (quiet cron mail).
    let r = env.run(&["rotate"]);
    assert_eq!(r.ok().stdout, "");
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
}

fn a_named_selection_and_bad_names(backend: Backend) {
    let mut env = store_at_t0_on(backend, &[("alice", "10"), ("bob", "10")]);
    env.var("PKI_NOW", "2026-01-09T00:00:00Z");
    let before = env.snapshot(&env.store());
    env.run(&["rotate", "nobody"])
        .code(2)
        .one_line_error(&["\"nobody\"", "pki list"]);
    env.run(&["rotate", "Alice"])
        .code(2)
        .one_line_error(&["upper-case"]);
    env.run(&["rotate", "alice", "alice"])
        .code(2)
        .one_line_error(&["twice"]);
    env.run(&["rotate", "--within", "3w"]).code(2);
    assert_eq!(env.snapshot(&env.store()), before);
    let d = rotate_doc(env.run(&["rotate", "bob", "--json"]).ok());
    assert_eq!(d.actions.len(), 1);
    assert!(d.actions[0].new_serial.is_some());
    // alice is still due; --force rotates one that is not due.
    let d = rotate_doc(
        env.run(&["rotate", "--json", "--within", "1%", "bob", "--force"])
            .ok(),
    );
    assert!(
        d.actions[0].reason.starts_with("forced"),
        "{:?}",
        d.actions[0]
    );
}

#[test]
fn on_change_runs_once_with_the_documented_variables() {
    let mut env = store_at_t0(&[("alice", "10"), ("bob", "10"), ("carol", "365")]);
    env.var("PKI_NOW", "2026-01-09T00:00:00Z");
    let log = env.path("hook.log");
    let hook = format!(
        "printf '%s|%s|%s|%s\\n' \"$PKI_DIR\" \"$PKI_ROTATED_USERS\" \"$PKI_NEW_SERIALS\" \"$PKI_CA_ROTATED\" >> {}; echo to-stdout",
        log.display()
    );
    let r = env.run(&["rotate", "--json", "--on-change", &hook]);
    let d = rotate_doc(r.ok()); // the hook's stdout did not spoil our JSON
    assert!(r.stderr.contains("to-stdout"));
    let lines = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let f: Vec<&str> = lines[0].split('|').collect();
    assert_eq!(Path::new(f[0]), env.store().canonicalize().unwrap());
    assert_eq!(f[1], "alice bob");
    let serials: Vec<String> = d
        .actions
        .iter()
        .filter_map(|a| a.new_serial.as_ref().map(|s| format!("{}={s}", a.user)))
        .collect();
    assert_eq!(f[2], serials.join(" "));
    assert_eq!(f[3], "0");
    // A no-op run does not run the hook.
    env.run(&["rotate", "--on-change", &hook]).ok();
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);

    // A failing hook: exit 1, says the rotation is done, and it is.
    env.var("PKI_NOW", "2026-01-20T00:00:00Z");
    let r = env.run(&["rotate", "--on-change", "exit 7"]);
    r.code(1);
    let err = r.stderr.lines().last().unwrap();
    assert!(
        err.starts_with("pki: error: the --on-change command exited with status 7"),
        "{err}"
    );
    assert!(err.contains("the rotation itself is done"), "{err}");
    let d = rotate_doc(env.run(&["rotate", "--json", "--dry-run"]).ok());
    assert!(d.actions.iter().all(|a| a.action == "keep"), "{d:?}");
}

fn eight_concurrent_runs_rotate_each_due_user_once(backend: Backend) {
    let mut env = store_at_t0_on(
        backend,
        &[("u1", "10"), ("u2", "10"), ("u3", "10"), ("u4", "365")],
    );
    env.var("PKI_NOW", "2026-01-09T00:00:00Z");
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.command(&["rotate", "--wait", "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut rotated = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d: RotateDoc = serde_json::from_slice(&out.stdout).unwrap();
        rotated.extend(
            d.actions
                .into_iter()
                .filter(|a| a.action == "rotate")
                .map(|a| a.user),
        );
    }
    rotated.sort();
    assert_eq!(rotated, ["u1", "u2", "u3"], "each due user exactly once");
    let ix = index(&env);
    let certs = ix["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 4 + 3);
    let serials: HashSet<_> = certs
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), certs.len(), "no duplicate serials");
    env.run(&["verify"]).ok();
}

fn rotating_the_ca_reissues_every_user_under_it(backend: Backend) {
    let mut env = Env::on(backend);
    env.var("PKI_NOW", T0);
    env.run(&["init", "--days", "1000"]).ok();
    env.run(&["issue", "alice", "bob", "--days", "365"]).ok();
    env.run(&[
        "issue",
        "carol",
        "--key-type",
        "ecdsa-p256",
        "--key-format",
        "pkcs8",
    ])
    .ok();
    let old_ca = env.ca_files().0;
    let old_users: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| env.user_files(u).0)
        .collect();

    // Day 700 of 1000: the CA is due (33%); rotate and check report it and
    // a rotation without --ca leaves it alone.
    env.var("PKI_NOW", "2027-12-02T00:00:00Z");
    let r = env.run(&["rotate", "--json", "--dry-run"]);
    let d = rotate_doc(r.ok());
    assert!(d.ca.due && !d.ca.rotated);
    assert!(r.stderr.contains("rotate --ca"), "{}", r.stderr);
    let c = env.run(&["check", "--json"]);
    c.code(3);
    assert_eq!(c.json()["ca_due"], true);

    let hook_log = env.path("ca.log");
    let hook = format!(
        "echo \"$PKI_CA_ROTATED $PKI_ROTATED_USERS\" > {}",
        hook_log.display()
    );
    let r = env.run(&["rotate", "--ca", "--json", "--on-change", &hook]);
    let d = rotate_doc(r.ok());
    assert!(d.ca.rotated && d.ca.new_serial.is_some());
    assert!(d
        .actions
        .iter()
        .all(|a| a.action == "rotate" && a.reason == "re-issued under the new CA"));
    assert!(
        r.stderr.contains("ALL clients need the new env"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&hook_log).unwrap(),
        "1 alice bob carol\n"
    );

    let ix = index(&env);
    assert_eq!(ix["ca_history"].as_array().unwrap().len(), 1);
    assert!(old_ca.exists());
    assert_eq!(ix["ca"]["subject"], "CN=rootCA");
    assert_eq!(
        ix["ca"]["not_after"], "2030-08-28T00:00:00Z",
        "1000 days kept"
    );
    let new_ca = env.ca_files().0;
    let at = "1829000000"; // 2027-12-16, inside every validity window here
    for (u, old) in ["alice", "bob", "carol"].iter().zip(&old_users) {
        let (cert, _) = env.user_files(u);
        let (ok, out) = chains(&new_ca, &cert, at);
        assert!(ok, "{u}: {out}");
        let (ok, _) = chains(&old_ca, &cert, at);
        assert!(!ok, "{u} must not chain to the old CA");
        assert!(old.exists(), "old certificate of {u} kept");
    }
    let states: Vec<_> = ix["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "superseded").count(), 3);
    // carol kept her key type.
    let carol = ix["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|c| c["user"] == "carol")
        .unwrap();
    assert_eq!(carol["key_type"], "ecdsa-p256");
    env.run(&["verify"]).ok();
    // The new CA is not due: rotate --ca again is a no-op.
    let before = env.snapshot(&env.store());
    let d = rotate_doc(env.run(&["rotate", "--ca", "--json"]).ok());
    assert!(!d.ca.rotated);
    assert_eq!(env.snapshot(&env.store()), before);
}

fn no_certificate_outlives_its_ca(backend: Backend) {
    let mut env = Env::on(backend);
    env.var("PKI_NOW", T0);
    env.run(&["init", "--days", "120"]).ok();
    env.run(&["issue", "alice", "--days", "90", "--key-type", "ecdsa-p256"])
        .ok();
    // Day 80: alice is due; a 90-day certificate would outlive the CA, so it
    // is cut to the CA's end with a warning.
    env.var("PKI_NOW", "2026-03-22T00:00:00Z");
    let r = env.run(&["rotate", "--json", "--within", "30d"]);
    r.ok();
    assert!(r.stderr.contains("would outlive the CA"), "{}", r.stderr);
    let ix = index(&env);
    let ca_end = ix["ca"]["not_after"].as_str().unwrap();
    let cur = ix["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|c| c["state"] == "active")
        .unwrap();
    assert_eq!(cur["not_after"].as_str().unwrap(), ca_end);
    // Later, inside the window again: re-issuing cannot help, so it is kept
    // with a hint to rotate the CA, and nothing changes.
    env.var("PKI_NOW", "2026-04-05T00:00:00Z");
    let before = env.snapshot(&env.store());
    let d = rotate_doc(env.run(&["rotate", "--json", "--within", "30d"]).ok());
    assert_eq!(d.actions[0].action, "keep");
    assert!(
        d.actions[0].reason.contains("rotate --ca"),
        "{}",
        d.actions[0].reason
    );
    assert_eq!(env.snapshot(&env.store()), before);
}

crate::each_backend!(
    due_not_due_and_expired_with_the_clock_injected,
    a_named_selection_and_bad_names,
    eight_concurrent_runs_rotate_each_due_user_once,
    rotating_the_ca_reissues_every_user_under_it,
    no_certificate_outlives_its_ca,
);

/// A run with nothing to do reads the index once and takes no lock, as
/// `--dry-run` does: another writer holding the lock neither refuses nor
/// holds up the nightly no-op, while a run with work to do is refused
/// (exit 4). A plain run still finishes an interrupted commit (a torn
/// last audit line), under the lock.
#[test]
fn a_run_with_nothing_to_do_takes_no_lock_but_finishes_an_interrupted_commit() {
    let mut env = store_at_t0(&[("alice", "100"), ("bob", "365")]);
    let lock = env.hold_lock();
    let before = env.snapshot(&env.store());
    // Day 66: nothing due.
    env.var("PKI_NOW", "2026-03-08T00:00:00Z");
    let r = env.run(&["rotate"]);
    r.ok();
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("nothing to do: 2 certificate(s) kept"),
        "{}",
        r.stderr
    );
    let d = rotate_doc(env.run(&["rotate", "--json"]).ok());
    assert!(d.actions.iter().all(|a| a.action == "keep"), "{d:?}");
    assert!(actions(&d)["bob"].1.starts_with("not due"), "{d:?}");
    // Day 70: alice is due, and the lock is held.
    env.var("PKI_NOW", "2026-03-12T00:00:00Z");
    env.run(&["rotate"])
        .code(4)
        .one_line_error(&["another pki", "--wait"]);
    assert_eq!(env.snapshot(&env.store()), before);
    drop(lock);

    // A torn last audit line: the no-op run takes the lock to cut it off.
    env.var("PKI_NOW", "2026-03-08T00:00:00Z");
    let log = env.store().join("audit.jsonl");
    let mut text = std::fs::read(&log).unwrap();
    text.extend_from_slice(b"{\"seq\":9");
    std::fs::write(&log, &text).unwrap();
    env.run(&["audit", "verify"]).code(3);
    let r = env.run(&["rotate"]);
    r.ok();
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
    env.run(&["audit", "verify"]).ok();
    let last = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "audit-torn-line-removed", "{last}");
}
