//! The audit log: every change and every export of key material leaves one
//! hash-chained line; `pki audit verify` names the first broken line.

use crate::support::common;

use crate::support::docs::{AuditShowDoc, AuditVerifyDoc};
use common::{mode, Env};

fn log(env: &Env) -> String {
    std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap()
}

#[test]
fn every_change_and_key_export_is_recorded_without_key_bytes() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2027-01-31T00:00:00Z")
        .var("USER", "ops");
    env.run(&["init"]).ok();
    env.run(&["issue", "alice", "bob"]).ok();
    env.run(&["issue", "alice"]).code(4); // refused: records nothing
    env.run(&["issue", "alice", "--force"]).ok();
    env.run(&["revoke", "bob"]).ok();
    env.run(&["config", "set", "crl-url", "http://crl.example/root.crl"])
        .ok();
    env.run(&["crl"]).ok();
    env.run(&["export", "marathon", "--user", "alice"]).ok();
    env.run(&["export", "k8s", "--user", "alice"]).ok();
    env.run(&["export", "files", "--user", "alice", "--out", "out"])
        .ok();
    env.run(&["list"]).ok(); // reads only: records nothing
    env.run(&["show", "alice"]).ok();

    let path = env.store().join("audit.jsonl");
    assert_eq!(mode(&path), 0o600);
    let text = log(&env);
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("MII"),
        "{text}"
    );

    let doc: AuditShowDoc = serde_json::from_str(&env.run(&["audit", "show", "--json"]).stdout)
        .expect("audit show --json has the documented shape");
    let got: Vec<(String, String, Option<String>)> = doc
        .entries
        .iter()
        .map(|e| (e.command.clone(), e.event.clone(), e.user.clone()))
        .collect();
    let want = [
        ("init", "ca-created", None),
        ("issue", "issued", Some("alice")),
        ("issue", "issued", Some("bob")),
        ("issue", "issued", Some("alice")),
        ("revoke", "revoked", Some("bob")),
        ("config", "config-changed", None),
        ("crl", "crl-signed", None),
        ("export marathon", "ca-key-exported", Some("alice")),
        ("export k8s", "ca-key-exported", Some("alice")),
        ("export files", "key-exported", Some("alice")),
    ];
    let want: Vec<(String, String, Option<String>)> = want
        .iter()
        .map(|(c, e, u)| (c.to_string(), e.to_string(), u.map(String::from)))
        .collect();
    assert_eq!(got, want);
    let e = &doc.entries[3];
    assert_eq!(e.seq, 4);
    assert_eq!(e.time, "2027-01-31T00:00:00Z");
    assert!(e.actor.starts_with("ops (uid "), "{}", e.actor);
    assert!(
        e.detail.as_deref().unwrap().starts_with("replaces serial "),
        "{e:?}"
    );
    assert_eq!(doc.entries[0].prev_hash, "0".repeat(64));
    assert_eq!(doc.entries[1].prev_hash, doc.entries[0].hash);

    let run = env.run(&["audit", "verify"]);
    run.ok();
    assert!(
        run.stdout.starts_with("10 entries, chain intact"),
        "{}",
        run.stdout
    );
    let v: AuditVerifyDoc =
        serde_json::from_str(&env.run(&["audit", "verify", "--json"]).stdout).unwrap();
    assert!(v.intact && v.entries == 10 && v.broken_line.is_none());
    assert_eq!(v.last_hash.as_deref(), Some(doc.entries[9].hash.as_str()));
}

#[test]
fn tampering_is_reported_at_the_first_broken_line() {
    let env = Env::with_users(&["a", "b", "c"]);
    env.run(&["revoke", "c"]).ok();
    let good = log(&env);
    let lines: Vec<&str> = good.lines().collect();
    assert_eq!(lines.len(), 5);
    let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();

    // Edit line 3 and recompute its own hash, as a careful forger would.
    let mut forged: crate::support::store::AuditLine = serde_json::from_str(lines[2]).unwrap();
    forged.user = Some("mallory".into());
    forged.hash = forged.compute_hash();
    let forged = serde_json::to_string(&forged).unwrap();

    let cases: Vec<(String, &str, Vec<&str>)> = vec![
        (
            good.replacen("\"user\":\"b\"", "\"user\":\"x\"", 1),
            "line 3",
            vec!["was edited"],
        ),
        (
            join(&[lines[0], lines[1], lines[3], lines[4]]),
            "line 3",
            vec!["seq 4, expected 3"],
        ),
        (
            join(&[lines[0], lines[2], lines[1], lines[3], lines[4]]),
            "line 2",
            vec!["seq 3, expected 2"],
        ),
        (
            join(&[lines[0], lines[1], &forged, lines[3], lines[4]]),
            "line 4",
            vec!["does not chain to line 3"],
        ),
        (
            good[..good.len() - 10].to_string(),
            "line 5",
            vec!["incomplete"],
        ),
        (
            good.replacen("{", "{\"evil\":1,", 1),
            "line 1",
            vec!["not an audit entry"],
        ),
    ];
    let path = env.store().join("audit.jsonl");
    for (text, line, parts) in cases {
        std::fs::write(&path, &text).unwrap();
        let mut want = vec![line];
        want.extend(parts);
        env.run(&["audit", "verify"])
            .code(3)
            .one_line_attention(&want);
        let v: AuditVerifyDoc =
            serde_json::from_str(&env.run(&["audit", "verify", "--json"]).stdout).unwrap();
        assert!(!v.intact);
        assert_eq!(format!("line {}", v.broken_line.unwrap()), line);
    }
    // A torn last line (an interrupted append) is provably incomplete: the
    // next run holding the lock removes it, says so in the log, and goes on
    // (issue 20; tests/faults.rs covers the repair).
    std::fs::write(&path, &good[..good.len() - 10]).unwrap();
    env.run(&["issue", "d"]).ok();
    env.run(&["audit", "verify"]).ok();
    std::fs::write(&path, &good).unwrap();
    env.run(&["audit", "verify"]).ok();
}
