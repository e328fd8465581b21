//! `pki rollover` (docs/rollover.md) through the real binary: the phases,
//! what the exports carry in each, abort, the guards on rotate, check and
//! a second rollover (SIGKILL at any instant of each step: kill_sweeps).
//!
//! The tests listed in `each_backend!` at the end run once on a directory
//! store and once on a store in OpenBao (support/backend.rs).

use crate::support::common;

use std::path::Path;

use crate::support::docs::RolloverDoc;
use common::{Backend, Env};

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
                .to_string()
        })
        .collect()
}

/// The store's Marathon env for alice: (CA cert bundle serials, CA key matches serial?).
fn store_env(env: &Env) -> serde_json::Value {
    env.run(&["export", "marathon", "--user", "alice"]).json()
}

/// Export the store's and the clients' halves, as an operator deploying a phase would.
pub(crate) fn deploy_both(env: &Env, out: &str) {
    store_env(env);
    env.run(&[
        "export", "files", "--user", "alice", "--out", out, "--force",
    ])
    .ok();
}

fn each_phase_carries_the_documented_bundles_and_verifies(backend: Backend) {
    let env = Env::with_users_on(backend, &["alice", "bob"]);
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

fn abort_from_trust_leaves_every_export_as_it_was(backend: Backend) {
    let env = Env::with_users_on(backend, &["alice"]);
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
    let doc: crate::support::docs::CheckDoc =
        serde_json::from_str(&env.run(&["check", "--json"]).stdout).unwrap();
    assert!(doc
        .rollover_warning
        .unwrap()
        .contains("pki rollover advance"));
}

// ---- every login works at every phase boundary ------------------------------

use crate::support::handshake;

/// What each app carries at one phase, written to files under `dir`.
struct Material {
    /// The store: its CA file (EPHEMERAL_STORE_ROOT_CA_CERT as is) and key.
    store_ca: std::path::PathBuf,
    store_key: std::path::PathBuf,
    /// The clients: root-ca, and alice's certificate and key, from ASP_EPHEMERAL_STORE.
    client_ca: std::path::PathBuf,
    user_cert: std::path::PathBuf,
    user_key: std::path::PathBuf,
}

fn material(env: &Env, name: &str) -> Material {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let store = store_env(env);
    let asp = env.run(&["export", "asp", "--user", "alice"]).json();
    let inner: serde_json::Value =
        serde_json::from_str(asp["ASP_EPHEMERAL_STORE"].as_str().unwrap()).unwrap();
    let put = |file: &str, v: &serde_json::Value| {
        let p = dir.join(file);
        std::fs::write(&p, v.as_str().unwrap()).unwrap();
        p
    };
    Material {
        store_ca: put("store-ca.pem", &store["EPHEMERAL_STORE_ROOT_CA_CERT"]),
        store_key: put("store-ca.key", &store["EPHEMERAL_STORE_ROOT_CA_KEY"]),
        client_ca: put("root-ca.pem", &inner["root-ca"]),
        user_cert: put("alice.crt", &inner["users"]["alice"]["cert"]),
        user_key: put("alice.key", &inner["users"]["alice"]["key"]),
    }
}

/// A store task on `store`'s env (CA file as is, node certificate minted
/// from it) and a client on `client`'s material: the server's verdict.
fn login(
    env: &Env,
    tag: &str,
    store: &Material,
    client_cert: &Path,
    client_key: &Path,
    client_ca: &Path,
) -> String {
    let (crt, key) = handshake::node_cert_from(env.root(), tag, &store.store_ca, &store.store_key);
    handshake::erlang_handshake_with(
        &store.store_ca,
        (&crt, &key),
        (client_cert, client_key),
        Some(client_ca),
    )
}

fn store_and_clients_in_any_order_keep_every_login_working(backend: Backend) {
    if !handshake::erlang_or_skip() {
        return;
    }
    let env = Env::with_users_on(backend, &["alice"]);
    // A user of another store: refused by the store in every phase.
    let foreign = Env::with_users_on(backend, &["alice"]);
    let (f_cert, f_key) = foreign.user_files("alice");

    let mut phases = vec![material(&env, "none")];
    env.run(&["rollover", "start"]).ok();
    phases.push(material(&env, "trust"));
    env.run(&["rollover", "advance", "--to", "switch"]).ok();
    phases.push(material(&env, "switch"));
    env.run(&["rollover", "advance", "--to", "done"]).ok();
    phases.push(material(&env, "done"));
    let names = ["none", "trust", "switch", "done"];

    for b in 0..3 {
        for (s, store) in [(b, &phases[b]), (b + 1, &phases[b + 1])] {
            for (c, client) in [(b, &phases[b]), (b + 1, &phases[b + 1])] {
                let tag = format!("node-{}-{}-{}", b, names[s], names[c]);
                let v = login(
                    &env,
                    &tag,
                    store,
                    &client.user_cert,
                    &client.user_key,
                    &client.client_ca,
                );
                assert_eq!(
                    v,
                    "OK CN=alice",
                    "boundary {} -> {}: store on {}, client on {}",
                    names[b],
                    names[b + 1],
                    names[s],
                    names[c]
                );
            }
        }
    }
    // The control: without the overlap, a store that skipped ahead to done
    // does not take a client still on the old CA.
    let (old, done) = (&phases[0], &phases[3]);
    let v = login(
        &env,
        "node-skip",
        done,
        &old.user_cert,
        &old.user_key,
        &old.client_ca,
    );
    assert!(v.starts_with("FAIL"), "done store, old client: {v}");
    for (i, store) in phases.iter().enumerate() {
        let tag = format!("node-foreign-{}", names[i]);
        let v = login(&env, &tag, store, &f_cert, &f_key, &store.client_ca);
        assert!(
            v.starts_with("FAIL"),
            "phase {}: a foreign user got {v}",
            names[i]
        );
    }
}

fn advance_refuses_while_a_user_the_controller_holds_keeps_old_material(backend: Backend) {
    let mut env = Env::with_users_on(backend, &["alice", "bob"]);
    let at = |minutes: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    // The controller holds alice and bob.
    env.var("PKI_NOW", &at(1));
    let app = env.run(&["export", "asp", "--user", "alice", "bob", "--format", "app"]);
    std::fs::write(env.path("ctlr.json"), &app.ok().stdout).unwrap();
    let controller = |env: &Env, users: &[&str]| {
        let mut args = vec!["export", "asp", "--merge", "ctlr.json", "--user"];
        args.extend_from_slice(users);
        env.run(&args).ok();
    };

    env.var("PKI_NOW", &at(2));
    env.run(&["rollover", "start"]).ok();
    env.var("PKI_NOW", &at(3));
    store_env(&env);
    // In trust a merge for alice alone gives bob the trust bundle too.
    controller(&env, &["alice"]);
    env.var("PKI_NOW", &at(4));
    env.run(&["rollover", "advance"]).ok();
    assert_eq!(status(&env).phase, "switch");

    // In switch both are re-issued by the new CA; a deploy of bob alone
    // leaves alice with the old CA's certificate in the controller.
    env.var("PKI_NOW", &at(5));
    store_env(&env);
    // A k8s export without the CA key is no store export.
    env.run(&["export", "k8s", "--clients-only", "--user", "alice", "bob"])
        .ok();
    controller(&env, &["bob"]);
    env.var("PKI_NOW", &at(6));
    let r = env.run(&["rollover", "advance"]);
    r.code(4)
        .one_line_error(&["alice", "ASP controller", "--user alice", "--remove"]);
    assert!(
        !r.stderr.contains("bob,") && !r.stderr.contains("held alice, bob"),
        "{}",
        r.stderr
    );
    assert_eq!(status(&env).phase, "switch");

    controller(&env, &["alice"]);
    env.run(&["rollover", "advance"]).ok();
    assert_eq!(status(&env).phase, "none");
}

#[test]
fn a_kubernetes_export_of_the_clients_only_is_not_the_stores_half() {
    let env = Env::with_users(&["alice"]);
    env.run(&["rollover", "start"]).ok();
    env.run(&["export", "k8s", "--clients-only", "--user", "alice"])
        .ok();
    let r = env.run(&["rollover", "advance"]);
    r.code(4).one_line_error(&["no store export"]);
    env.run(&["export", "k8s", "--user", "alice"]).ok();
    env.run(&["rollover", "advance"]).ok();
}

crate::each_backend!(
    each_phase_carries_the_documented_bundles_and_verifies,
    abort_from_trust_leaves_every_export_as_it_was,
    store_and_clients_in_any_order_keep_every_login_working,
    advance_refuses_while_a_user_the_controller_holds_keeps_old_material,
);
