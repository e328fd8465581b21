//! Issue 20, items 3, 4, 6, 7, 8 and 10: pki signs only with a matching
//! pair, never makes a leaf for one of its CA keys, sends what the store
//! holds when it sends (and waits on the network without the store lock),
//! takes a rollover's evidence in audit order, and refuses a Marathon
//! answer wrapped twice. Each test fails on the code before the fix. (The
//! lock refusal naming its holder is tested in `wording.rs`, beside the
//! wait that names it.)

use crate::support::{common, fake_marathon};
use std::process::{Child, Stdio};
use std::sync::mpsc;

use common::{sh, tool_or_skip, Env};
use fake_marathon::{Behaviour, Fake, Hold};
use serde_json::{json, Value};

const APP: &str = "/ephemeral-store";

fn store_app() -> Value {
    json!({"id": APP, "env": {"OTHER": "1"}, "instances": 1})
}

/// The audit entries of `command`s starting with `prefix`: (event, serial, detail); the chain verifies.
fn audit(env: &Env, prefix: &str) -> Vec<(String, Option<String>, String)> {
    env.run(&["audit", "verify"]).ok();
    let doc: pki::json::AuditShowDoc =
        serde_json::from_str(&env.run(&["audit", "show", "--json"]).stdout).unwrap();
    doc.entries
        .into_iter()
        .filter(|e| e.command.starts_with(prefix))
        .map(|e| (e.event, e.serial, e.detail.unwrap_or_default()))
        .collect()
}

fn ca_serial(env: &Env) -> String {
    env.index().ca.unwrap().serial.to_string()
}

/// `pki deploy marathon` running in the background against a fake
/// Marathon that holds its first request of `method`: returns once that
/// request arrived, with the fake, the deploy and the sender that lets
/// the request go on.
fn deploy_held(env: &Env, method: &'static str) -> (Fake, Child, mpsc::Sender<()>) {
    let (hold, arrived, release) = Hold::new(method);
    let fake = Fake::start(Behaviour {
        hold: Some(hold),
        ..Behaviour::with_apps(&[store_app()])
    });
    let deploy = env
        .command(&[
            "deploy",
            "marathon",
            "--url",
            &fake.url(),
            "--timeout",
            "60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    arrived.recv().unwrap();
    (fake, deploy, release)
}

fn finish(child: Child) -> common::Run {
    let out = child.wait_with_output().unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_ca_key_that_is_not_the_certificates_signs_and_ships_nothing() {
    let env = Env::with_users(&["alice"]);
    env.run(&["issue", "bob"]).ok();
    // Another store's CA key planted as this one's (the wrong backup restored).
    let other = Env::with_users(&[]);
    let (_, key) = env.ca_files();
    std::fs::copy(other.ca_files().1, &key).unwrap();
    let serial = ca_serial(&env);
    let before = env.snapshot(&env.store());
    let fake = Fake::start(Behaviour::with_apps(&[store_app()]));
    let url = fake.url();
    let refusals: [&[&str]; 6] = [
        &["issue", "carol"],
        &["rotate", "--force", "alice"],
        &["crl", "--out", "crl.pem"],
        &["export", "marathon", "--user", "alice"],
        &["export", "k8s", "--user", "alice"],
        &["deploy", "marathon", "--url", &url, "--user", "alice"],
    ];
    for args in refusals {
        let run = env.run(args);
        run.code(2).one_line_error(&[
            &format!("the CA key in the store does not match the CA certificate (serial {serial})"),
            "restore the key that belongs to it from a backup",
            "pki rotate --ca --force",
        ]);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert_eq!(
            env.snapshot(&env.store()),
            before,
            "{args:?} changed the store"
        );
    }
    assert!(fake.methods().is_empty(), "nothing reached Marathon");
    assert!(!env.path("crl.pem").exists());
    // The way out the message names works, and signs with the new pair.
    env.run(&["rotate", "--ca", "--force"]).ok();
    env.run(&["issue", "carol"]).ok();
    env.run(&["verify"]).ok();
}

#[test]
fn a_rollover_does_not_advance_with_a_mismatched_new_key() {
    let env = Env::with_users(&["alice"]);
    env.run(&["rollover", "start"]).ok();
    let new = env.index().rollover.unwrap().other;
    let other = Env::with_users(&[]);
    std::fs::copy(other.ca_files().1, env.store().join(&new.key)).unwrap();
    let before = env.snapshot(&env.store());
    env.run(&["rollover", "advance", "--force"])
        .code(2)
        .one_line_error(&[&format!(
            "does not match the CA certificate (serial {})",
            new.serial
        )]);
    assert_eq!(env.snapshot(&env.store()), before);
}

#[test]
fn a_leaf_for_a_ca_key_of_the_store_is_refused() {
    if !tool_or_skip("openssl", "apt-get install openssl") {
        return;
    }
    let env = Env::with_users(&["alice"]);
    let (ca_cert, ca_key) = env.ca_files();
    let (ca_cert, ca_key) = (ca_cert.display(), ca_key.display());
    // A request and a certificate (signed by the CA, for clientAuth) for the CA's own key.
    sh(
        &env,
        &format!(
            "openssl req -new -key {ca_key} -subj /CN=svc -out svc.csr 2>/dev/null && \
             printf 'extendedKeyUsage=clientAuth\\n' > ext && \
             openssl x509 -req -in svc.csr -CA {ca_cert} -CAkey {ca_key} -set_serial 0x5eed \
               -days 30 -extfile ext -out svc.crt 2>/dev/null"
        ),
    );
    let serial = ca_serial(&env);
    let before = env.snapshot(&env.store());
    env.run(&["sign", "--csr", "svc.csr"])
        .code(2)
        .one_line_error(&[&format!(
            "svc.csr is for the key of the store's CA (serial {serial})"
        )]);
    let key = ca_key.to_string();
    for with_key in [false, true] {
        let mut args = vec!["import", "--user", "svc", "--cert", "svc.crt"];
        if with_key {
            args.extend(["--key", &key]);
        }
        env.run(&args).code(2).one_line_error(&[&format!(
            "svc.crt is for the key of the store's CA (serial {serial})"
        )]);
    }
    assert_eq!(env.snapshot(&env.store()), before);
    // A CA in history is one of the store's keys too.
    env.run(&["rotate", "--ca", "--force"]).ok();
    env.run(&["sign", "--csr", "svc.csr"])
        .code(2)
        .one_line_error(&[&format!("(serial {serial})")]);
}

#[test]
fn a_marathon_answer_wrapped_twice_is_refused_and_nothing_is_sent() {
    let env = Env::with_users(&["alice"]);
    let fake = Fake::start(Behaviour {
        wrap_twice: true,
        ..Behaviour::with_apps(&[store_app()])
    });
    let run = env.run(&["deploy", "marathon", "--url", &fake.url()]);
    run.code(2)
        .one_line_error(&["is not a Marathon app definition", "more than once"]);
    assert_eq!(fake.methods(), ["GET"]);
    assert_eq!(fake.app(APP).unwrap(), store_app());
    assert!(audit(&env, "deploy").is_empty());
    // The same answer saved and given to --merge.
    std::fs::write(
        env.path("twice.json"),
        json!({"app": {"app": store_app()}}).to_string(),
    )
    .unwrap();
    env.run(&["export", "marathon", "--merge", "twice.json"])
        .code(2)
        .one_line_error(&[
            "twice.json is not a Marathon app definition",
            "more than once",
        ]);
    // Wrapped once, as GET answers, it merges and keeps the other variable.
    let fake = Fake::start(Behaviour::with_apps(&[store_app()]));
    env.run(&["deploy", "marathon", "--url", &fake.url()]).ok();
    assert_eq!(fake.app(APP).unwrap()["env"]["OTHER"], "1");
}

#[test]
fn deploy_waits_on_marathon_without_the_store_lock_and_says_when_the_ca_changed_meanwhile() {
    let env = Env::with_users(&["alice"]);
    let old = ca_serial(&env);
    let (fake, deploy, release) = deploy_held(&env, "PUT");
    // The PUT is out and unanswered: the store's writers are not blocked.
    env.run(&["issue", "bob"]).ok();
    env.run(&["rotate", "--ca", "--force"]).ok();
    let new = ca_serial(&env);
    release.send(()).unwrap();
    let run = finish(deploy);
    run.code(1).one_line_error(&[
        &format!(
            "{APP} took CA serial {old}, but the store's CA changed from serial {old} to {new}"
        ),
        "run the deploy again",
    ]);
    let sends = audit(&env, "deploy");
    let events: Vec<(&str, Option<&str>)> = sends
        .iter()
        .map(|(e, s, _)| (e.as_str(), s.as_deref()))
        .collect();
    assert_eq!(
        events,
        [
            ("ca-key-sending", Some(old.as_str())),
            ("ca-key-deployed", Some(old.as_str()))
        ]
    );
    assert!(
        sends[1].2.contains(&format!("CA serial {old}")),
        "{sends:?}"
    );
    // Run again, it sends the current CA.
    fake.set(|b| b.hold = None);
    env.run(&[
        "deploy",
        "marathon",
        "--url",
        &fake.url(),
        "--user",
        "alice",
    ])
    .ok();
    assert_eq!(audit(&env, "deploy")[3].1.as_deref(), Some(new.as_str()));
}

#[test]
fn a_ca_replaced_while_deploy_reads_the_app_is_not_sent() {
    let env = Env::with_users(&["alice"]);
    let old = ca_serial(&env);
    let (fake, deploy, release) = deploy_held(&env, "GET");
    env.run(&["rotate", "--ca", "--force"]).ok();
    let new = ca_serial(&env);
    release.send(()).unwrap();
    finish(deploy).code(1).one_line_error(&[
        &format!("nothing was sent: the store's CA changed from serial {old} to {new} since the material was read"),
        "run the deploy again",
    ]);
    assert_eq!(fake.methods(), ["GET"]);
    assert_eq!(fake.app(APP).unwrap(), store_app());
    assert!(audit(&env, "deploy").is_empty());
}

#[test]
fn rollover_evidence_is_audit_order_not_the_clock() {
    let mut env = Env::with_users(&["alice"]);
    // Exports made while the clock was a month ahead...
    let ahead = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let ahead = ahead
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    env.var("PKI_NOW", &ahead);
    env.run(&["export", "marathon", "--user", "alice"]).ok();
    env.run(&["export", "files", "--user", "alice", "--out", "c1"])
        .ok();
    env.unset("PKI_NOW").unset(common::ALLOW_NOW);
    // ...are no evidence for a phase that began after them.
    env.run(&["rollover", "start"]).ok();
    env.run(&["rollover", "advance"])
        .code(4)
        .one_line_error(&["not deployed yet", "store export"]);
    env.run(&["export", "marathon", "--user", "alice"]).ok();
    env.run(&["rollover", "advance"])
        .code(4)
        .one_line_error(&["not deployed yet", "client export"]);
    env.run(&["export", "files", "--user", "alice", "--out", "c2"])
        .ok();
    env.run(&["rollover", "advance"]).ok();
    assert_eq!(env.index().rollover.unwrap().phase.name(), "switch");
}
