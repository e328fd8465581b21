//! `pki rotate --ca --keep-key`: the CA renewed with its key. Users issued
//! before keep working under the new CA certificate alone (openssl verify,
//! an Erlang/OTP TLS login), nothing is superseded or re-issued, exports
//! carry both CA certificates, and verify, check, rotate and the CRL treat
//! the old certificate's users as the current CA's.

use crate::support::{common, handshake};

use std::path::{Path, PathBuf};

use common::{openssl, openssl_public_key, openssl_verify_client, Env};
use handshake::{erlang_handshake, erlang_or_skip, node_cert_from};

/// One field of `openssl x509 -noout -<what>` (subject, serial, enddate, ...).
fn x509_field(cert: &Path, what: &str) -> String {
    let (ok, out) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", what]);
    assert!(ok, "{out}");
    out.trim().to_string()
}

/// The subject key identifier of `cert`, as openssl prints it.
fn ski(cert: &Path) -> String {
    let (ok, out) = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-ext",
        "subjectKeyIdentifier",
    ]);
    assert!(ok, "{out}");
    let id = out.lines().nth(1).unwrap_or("").trim().to_string();
    assert!(!id.is_empty(), "no subject key identifier: {out}");
    id
}

/// A store with alice and bob, its CA renewed with its key; returns the
/// env, the old CA certificate's path and the index before the renewal.
fn renewed() -> (Env, PathBuf, pki::store::Index) {
    let env = Env::with_users(&["alice", "bob"]);
    let before = env.index();
    let (old_crt, _) = env.ca_files();
    let r = env.run(&[
        "rotate",
        "--ca",
        "--keep-key",
        "--force",
        "--ca-days",
        "4000",
    ]);
    r.ok();
    assert!(r.stdout.is_empty(), "no user was re-issued: {}", r.stdout);
    assert!(r.stderr.contains("RENEWED ROOT CA"), "{}", r.stderr);
    (env, old_crt, before)
}

#[test]
fn keep_key_makes_a_new_certificate_for_the_same_key_subject_and_key_id() {
    let (env, old_crt, before) = renewed();
    let old_key = env.store().join(&before.ca.as_ref().unwrap().key);
    let after = env.index();
    let (new_crt, new_key) = env.ca_files();
    let (old, new) = (before.ca.clone().unwrap(), after.ca.clone().unwrap());

    // A new certificate: new serial, new validity; the key file is the same.
    assert_ne!(new.serial, old.serial);
    assert_ne!(new_crt, old_crt);
    assert_eq!(new_key, old_key);
    assert!(new.not_after > old.not_after);
    assert_eq!(after.ca_history.last(), Some(&old));
    assert_eq!(
        x509_field(&new_crt, "-subject"),
        x509_field(&old_crt, "-subject")
    );
    assert_eq!(ski(&new_crt), ski(&old_crt));
    assert_eq!(openssl_public_key(&new_crt), openssl_public_key(&old_crt));
    assert_ne!(
        x509_field(&new_crt, "-serial"),
        x509_field(&old_crt, "-serial")
    );

    // Nothing superseded, nothing re-issued: the same certificates are current.
    assert_eq!(before.certificates, after.certificates);
    for u in ["alice", "bob"] {
        assert_eq!(
            after.active(u).map(|c| &c.serial),
            before.active(u).map(|c| &c.serial),
            "{u} keeps its certificate"
        );
    }
    let audit = std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"ca-renewed\""), "{audit}");
}

#[test]
fn users_issued_before_verify_under_the_new_ca_certificate_alone() {
    let (env, _, _) = renewed();
    let (new_crt, _) = env.ca_files();
    for u in ["alice", "bob"] {
        let (crt, _) = env.user_files(u);
        let (ok, out) = openssl_verify_client(&new_crt, &crt);
        assert!(ok, "{u}: {out}");
    }
    // pki agrees: verify passes, check has nothing to do, rotate keeps both.
    env.run(&["verify"]).ok();
    env.run(&["check"]).ok();
    let r = env.run(&["rotate"]);
    r.ok();
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
    let r = env.run(&["-v", "rotate", "--dry-run"]);
    assert!(!r.stdout.contains("earlier CA"), "{}", r.stdout);
}

#[test]
fn users_issued_before_log_in_to_a_node_that_has_only_the_new_ca_certificate() {
    if !erlang_or_skip() {
        return;
    }
    let (env, _, _) = renewed();
    let (new_crt, ca_key) = env.ca_files();
    // The node's CA file holds the new certificate only, and the node
    // mints its own certificate from it, as the store does at boot.
    let only_new = env.root().join("only-new.crt");
    std::fs::copy(&new_crt, &only_new).unwrap();
    let (node_crt, node_key) = node_cert_from(env.root(), "node", &only_new, &ca_key);
    let (crt, key) = env.user_files("alice");
    assert_eq!(
        erlang_handshake(&only_new, (&node_crt, &node_key), (&crt, &key)),
        "OK CN=alice"
    );
}

#[test]
fn exports_carry_both_ca_certificates_new_first() {
    let (env, old_crt, _) = renewed();
    let (new_crt, _) = env.ca_files();
    let out = env.root().join("out");
    env.run(&[
        "export",
        "files",
        "--user",
        "alice",
        "--out",
        out.to_str().unwrap(),
    ])
    .ok();
    let bundle = std::fs::read_to_string(out.join("ca.crt")).unwrap();
    let new = std::fs::read_to_string(&new_crt).unwrap();
    let old = std::fs::read_to_string(&old_crt).unwrap();
    assert_eq!(bundle, format!("{new}{old}"));
    // A user issued now is signed by the new certificate and verifies under the bundle.
    env.run(&["issue", "carol"]).ok();
    let (crt, _) = env.user_files("carol");
    let (ok, out) = openssl_verify_client(&new_crt, &crt);
    assert!(ok, "{out}");
}

#[test]
fn a_user_revoked_after_the_renewal_is_on_the_new_certificates_crl() {
    let (env, _, _) = renewed();
    let bob = env.index().active("bob").unwrap().serial.clone();
    let r = env.run(&["revoke", "bob"]);
    r.ok();
    assert!(!r.stderr.contains("earlier CA"), "{}", r.stderr);
    let crl = env.root().join("ca.crl");
    env.run(&["crl", "--out", crl.to_str().unwrap()]).ok();
    let (new_crt, _) = env.ca_files();
    let (ok, out) = openssl(&[
        "crl",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        new_crt.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    assert!(
        out.to_uppercase().contains(&bob.to_string().to_uppercase()),
        "{bob}: {out}"
    );
}

#[test]
fn keep_key_needs_ca_and_keeps_the_key_type() {
    let env = Env::with_users(&["alice"]);
    let before = env.snapshot(&env.store());
    env.run(&["rotate", "--keep-key"]).code(2);
    env.run(&[
        "rotate",
        "--ca",
        "--keep-key",
        "--ca-key-type",
        "ecdsa-p256",
        "--force",
    ])
    .code(2);
    assert_eq!(before, env.snapshot(&env.store()), "nothing was written");
    // Not due and not forced: nothing to do.
    env.run(&["rotate", "--ca", "--keep-key"]).ok();
    assert_eq!(before.len(), env.snapshot(&env.store()).len());
}

#[test]
fn the_renewal_commands_of_docs_rollover_run_as_written() {
    let env = Env::with_users(&["alice"]);
    let before = env.index();
    common::sh(&env, &common::doc_sh_block("rollover.md", "--keep-key"));
    let after = env.index();
    assert_ne!(
        after.ca.as_ref().unwrap().serial,
        before.ca.as_ref().unwrap().serial
    );
    assert_eq!(after.certificates, before.certificates, "nobody re-issued");
}

#[test]
fn an_encrypted_ca_is_renewed_with_its_passphrase_and_stays_encrypted() {
    let env = Env::new();
    std::fs::write(env.root().join("pass.txt"), "correct horse battery\n").unwrap();
    env.run(&["init", "--encrypt", "--passphrase-file", "pass.txt"])
        .ok();
    env.run(&["issue", "alice", "--passphrase-file", "pass.txt"])
        .ok();
    let (old_crt, key) = env.ca_files();
    let key_bytes = std::fs::read(&key).unwrap();
    // Signing the new certificate needs the key: no passphrase, no renewal.
    let r = env.run(&["rotate", "--ca", "--keep-key", "--force"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    env.run(&[
        "rotate",
        "--ca",
        "--keep-key",
        "--force",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    let idx = env.index();
    let (new_crt, new_key) = env.ca_files();
    assert!(idx.ca.as_ref().unwrap().encrypted);
    assert_eq!(
        (new_key, std::fs::read(&key).unwrap()),
        (key, key_bytes),
        "the key file is untouched"
    );
    assert_eq!(openssl_public_key(&new_crt), openssl_public_key(&old_crt));
    let (crt, _) = env.user_files("alice");
    let (ok, out) = openssl_verify_client(&new_crt, &crt);
    assert!(ok, "{out}");
}
