//! Defects the one-CA-core redesign removed (issue 11), each checked
//! through the real binary: the CA replacement of `rotate --ca` is the one
//! `init` and `import` use, and the audit says what it superseded.

use crate::support::common;

use common::{sh, Env};

/// `pki list --json` rows by user: (status, serial).
fn list(env: &Env) -> Vec<(String, String, String)> {
    let doc: crate::support::docs::ListDoc =
        serde_json::from_str(&env.run(&["list", "--json"]).stdout).unwrap();
    doc.certificates
        .into_iter()
        .map(|r| (r.user, r.status, r.serial))
        .collect()
}

#[test]
fn a_signed_user_is_superseded_by_a_ca_rotation_and_list_check_verify_agree() {
    let env = Env::with_users(&["alice"]);
    sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout carol.key -subj /CN=carol -out carol.csr 2>/dev/null",
    );
    env.run(&["sign", "--csr", "carol.csr"]).ok();
    let before = list(&env);
    assert!(
        before.iter().any(|(u, s, _)| u == "carol" && s == "valid"),
        "{before:?}"
    );

    let r = env.run(&["rotate", "--ca", "--force"]);
    r.ok();
    assert!(
        r.stderr.contains("carol: superseded with the old CA") && r.stderr.contains("pki sign"),
        "{}",
        r.stderr
    );
    // list: carol has no current certificate any more; alice has a new one.
    let after = list(&env);
    assert!(!after.iter().any(|(u, _, _)| u == "carol"), "{after:?}");
    let alice_before = &before.iter().find(|(u, _, _)| u == "alice").unwrap().2;
    let alice_after = after.iter().find(|(u, _, _)| u == "alice").unwrap();
    assert_eq!(alice_after.1, "valid");
    assert_ne!(&alice_after.2, alice_before);
    // list --all shows carol's certificate as history.
    let all: crate::support::docs::ListDoc =
        serde_json::from_str(&env.run(&["list", "--all", "--json"]).stdout).unwrap();
    assert!(all
        .certificates
        .iter()
        .any(|r| r.user == "carol" && r.status == "superseded"));
    // check and verify agree: nothing current is broken.
    env.run(&["check"]).ok();
    env.run(&["verify"]).ok();
    let index = env.index();
    assert!(index.active("carol").is_none());
    assert_eq!(
        index.active("alice").unwrap().ca_serial,
        index.ca.as_ref().unwrap().serial
    );

    // The audit line counts both certificates the old CA lost.
    let audit = std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("\"ca-rotated\""))
        .expect("a ca-rotated event");
    assert!(
        line.contains("(2 user certificate(s) superseded)"),
        "{line}"
    );
    // Each re-issue keeps its "replaces serial" detail.
    assert!(
        audit.lines().any(|l| l.contains("\"rotate\"")
            && l.contains("\"issued\"")
            && l.contains(&format!("replaces serial {alice_before}"))),
        "{audit}"
    );
    env.run(&["audit", "verify"]).ok();
}

#[test]
fn an_imported_ca_with_serial_0_is_refused() {
    let env = Env::new();
    sh(
        &env,
        "openssl genrsa -out ca.key 2048 2>/dev/null
         openssl req -x509 -new -key ca.key -subj /CN=rootCA -days 365 -set_serial 0 -out ca.crt",
    );
    let before = env.snapshot(env.root());
    env.run(&["import", "--cert", "ca.crt", "--key", "ca.key"])
        .code(2)
        .one_line_error(&["serial number 0", "RFC 5280", "positive serial"]);
    assert_eq!(env.snapshot(env.root()), before);
}

#[test]
fn init_force_counts_what_it_superseded_in_the_audit() {
    let env = Env::with_users(&["a", "b"]);
    env.run(&["init", "--force"]).ok();
    let audit = std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap();
    let last = audit.lines().last().unwrap();
    assert!(
        last.contains("\"ca-created\"") && last.contains("(2 user certificate(s) superseded)"),
        "{last}"
    );
    assert!(env.index().active_all().next().is_none());
}
