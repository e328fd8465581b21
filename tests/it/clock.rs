//! The clock (issue 14 items 3 and 4): `PKI_NOW` answers what-if questions
//! but never makes a certificate valid from a date that has not come;
//! `list`, `check` and `verify` agree on a certificate that is not valid
//! yet; a CA that is expired or not yet valid is exit 2 with the fix;
//! `export marathon` warns about the CA; `check` names the command that
//! fixes what it found.

use crate::support::common;

use common::{Env, ALLOW_NOW};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn at(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn index(env: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.store().join("index.json")).unwrap()).unwrap()
}

/// The CA warning `pki export marathon` prints (it succeeds).
fn ca_warning_of_export(env: &Env) -> String {
    let e = env.run(&["export", "marathon"]);
    e.ok();
    e.stderr
        .lines()
        .find(|l| l.starts_with("pki: warning: the root CA"))
        .unwrap_or_else(|| panic!("no CA warning: {}", e.stderr))
        .to_string()
}

const EVERYONE: &str = "it re-issues every user; redeploy the store and its clients together";

#[test]
fn commands_that_write_refuse_pki_now_and_read_only_ones_and_dry_runs_honour_it() {
    let mut env = Env::with_users(&["alice"]);
    env.var("PKI_NOW", "2030-01-01T00:00:00Z");
    env.unset(ALLOW_NOW);
    let before = env.snapshot(&env.store());
    let r = env.run(&["issue", "bob"]);
    r.code(2);
    assert_eq!(
        r.stderr,
        "pki: error: PKI_NOW is set, but `pki issue` writes to the store, and writes use the \
         real clock; unset PKI_NOW (it is for read-only commands such as `pki check` and for \
         --dry-run)\n"
    );
    std::fs::write(env.path("out.crl"), "").unwrap();
    for args in [
        &["init", "--force"][..],
        &["rotate"],
        &["rotate", "--ca", "--force"],
        &["crl", "--out", "x.crl"],
        &["revoke", "alice"],
        &["config", "set", "crl-url", "http://crl.example/root.crl"],
        &["export", "marathon"],
        &["export", "files", "--user", "alice", "--out", "tls"],
        &["export", "k8s"],
    ] {
        let r = env.run(args);
        r.code(2)
            .one_line_error(&["PKI_NOW is set, but `pki ", "unset PKI_NOW"]);
    }
    assert_eq!(env.snapshot(&env.store()), before, "nothing changed");
    // Read-only commands and dry runs answer "what then?".
    let list = env.run(&["list", "--json"]);
    list.ok();
    assert_eq!(list.json()["certificates"][0]["status"], "expired");
    env.run(&["check"]).code(3);
    let plan = env.run(&["rotate", "--dry-run", "--json"]);
    plan.ok();
    assert_eq!(plan.json()["actions"][0]["action"], "rotate");
    env.run(&["verify"]).code(3);
    env.run(&["show", "alice"]).ok();
    env.run(&["audit", "verify"]).ok();
    assert_eq!(env.snapshot(&env.store()), before, "nothing changed");
    // The documented test-only switch lets the suite write with its clock.
    env.var(ALLOW_NOW, "1");
    env.run(&["issue", "bob"]).ok();
}

#[test]
fn a_store_made_with_a_clock_ahead_is_not_yet_valid_everywhere_and_issue_refuses_it() {
    let ahead = OffsetDateTime::now_utc() + Duration::days(30);
    let mut env = Env::new();
    env.var("PKI_NOW", &at(ahead));
    env.run(&["init"]).ok();
    env.run(&["issue", "alice"]).ok();
    env.unset("PKI_NOW").unset(ALLOW_NOW);
    let ix = index(&env);
    let ca_nb = ix["ca"]["not_before"].as_str().unwrap().to_string();
    let alice_nb = ix["certificates"][0]["not_before"]
        .as_str()
        .unwrap()
        .to_string();

    // list: a status of its own.
    let list = env.run(&["list", "--json"]);
    list.ok();
    assert_eq!(list.json()["certificates"][0]["status"], "not-yet-valid");
    let human = env.run(&["list"]);
    assert!(
        human
            .stdout
            .lines()
            .any(|l| l.starts_with("alice") && l.contains("not-yet-valid")),
        "{}",
        human.stdout
    );

    // check: attention, the same word, and the fix.
    let r = env.run(&["check"]);
    r.code(3);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "not-yet-valid  alice  not before {alice_nb}  (valid in 29 days)"
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!(
            "not-yet-valid  CA CN=rootCA  not before {ca_nb}  (valid in 29 days)"
        )),
        "{}",
        lines[1]
    );
    assert_eq!(
        r.stderr,
        format!(
            "pki: attention: 1 not yet valid, CA not yet valid; run `pki rotate --ca --force` ({EVERYONE})\n"
        )
    );
    let doc = env.run(&["check", "--json"]);
    doc.code(3);
    let doc = doc.json();
    assert_eq!(doc["not_yet_valid"], serde_json::json!(["alice"]));
    assert_eq!(doc["ca_not_yet_valid"], true);
    assert_eq!(
        doc["fix"],
        format!("run `pki rotate --ca --force` ({EVERYONE})")
    );

    // verify: fails on the same two.
    let v = env.run(&["verify", "--json"]);
    v.code(3);
    let failed: Vec<(String, String)> = v.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false)
        .map(|f| {
            (
                f["user"].as_str().unwrap_or("(CA)").to_string(),
                f["check"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        failed.contains(&("(CA)".into(), "ca-validity".into())),
        "{failed:?}"
    );
    assert!(
        failed.contains(&("alice".into(), "validity".into())),
        "{failed:?}"
    );

    // issue refuses to sign under it: exit 2, the fix, nothing changed.
    let before = env.snapshot(&env.store());
    let r = env.run(&["issue", "bob"]);
    r.code(2);
    assert_eq!(
        r.stderr,
        format!(
            "pki: error: the root CA is not valid before {ca_nb}, so nothing it signs would \
             verify; check this machine's clock, or make a new one with `pki rotate --ca --force`\n"
        )
    );
    assert_eq!(env.snapshot(&env.store()), before);

    // export marathon says so.
    let e = env.run(&["export", "marathon", "--user", "alice"]);
    e.ok();
    assert_eq!(
        e.stderr
            .lines()
            .find(|l| l.starts_with("pki: warning: the root CA"))
            .unwrap(),
        format!(
            "pki: warning: the root CA is not valid before {ca_nb} (valid in 29 days): the store \
             will refuse every client; make a new one with `pki rotate --ca --force` and redeploy"
        )
    );

    // The fix check named works, and then all agree again.
    env.run(&["rotate", "--ca", "--force"]).ok();
    env.run(&["check"]).ok();
    env.run(&["verify"]).ok();
    let list = env.run(&["list", "--json"]);
    assert_eq!(list.json()["certificates"][0]["status"], "valid");
}

#[test]
fn an_expired_ca_is_exit_2_with_the_fix_and_export_warns() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2020-01-01T00:00:00Z");
    env.run(&["init", "--days", "30"]).ok();
    env.run(&["issue", "alice"]).ok();
    env.unset("PKI_NOW").unset(ALLOW_NOW);
    let ca_na = index(&env)["ca"]["not_after"].as_str().unwrap().to_string();
    let want = format!(
        "pki: error: the root CA expired on {ca_na}; make a new one with `pki rotate --ca --force` \
         (it re-issues every user; then redeploy the store and its clients)\n"
    );
    let before = env.snapshot(&env.store());
    let r = env.run(&["issue", "bob"]);
    r.code(2);
    assert_eq!(r.stderr, want);
    let r = env.run(&["crl"]);
    r.code(2);
    assert_eq!(r.stderr, want);
    common::sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout c.key -subj /CN=carol -out c.csr 2>/dev/null",
    );
    let r = env.run(&["sign", "--csr", "c.csr"]);
    r.code(2);
    assert_eq!(r.stderr, want);
    assert_eq!(env.snapshot(&env.store()), before);

    let r = env.run(&["check"]);
    r.code(3);
    assert_eq!(
        r.stderr,
        format!(
            "pki: attention: 1 expired, CA expired; run `pki rotate --ca --force` ({EVERYONE})\n"
        )
    );
    assert!(
        r.stdout.contains(&format!(
            "expired  CA CN=rootCA  not after {ca_na}  (expired "
        )),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("days left)"), "{}", r.stdout);

    let w = ca_warning_of_export(&env);
    assert!(
        w.starts_with(&format!("pki: warning: the root CA expired on {ca_na} (expired "))
            && w.ends_with(
                " days ago): the store will refuse every client; make a new one with `pki rotate --ca --force` and redeploy"
            ),
        "{w}"
    );
    env.run(&["rotate", "--ca", "--force"]).ok();
    env.run(&["check"]).ok();
}

#[test]
fn check_names_pki_rotate_ca_when_only_the_ca_is_due_and_export_warns() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2020-01-01T00:00:00Z");
    env.run(&["init", "--days", "3650"]).ok();
    // Seven years on, 30 % of the CA's life is left (due under 33 %); alice is fresh.
    env.var("PKI_NOW", "2026-12-01T00:00:00Z");
    env.run(&["issue", "alice"]).ok();
    env.var("PKI_NOW", "2027-01-01T00:00:00Z");
    let r = env.run(&["check"]);
    r.code(3);
    assert_eq!(
        r.stderr,
        format!("pki: attention: CA due; run `pki rotate --ca` in a planned window ({EVERYONE})\n")
    );
    assert!(
        r.stdout
            .starts_with("due      CA CN=rootCA  not after 2029-"),
        "{}",
        r.stdout
    );
    let w = ca_warning_of_export(&env);
    assert!(
        w.starts_with("pki: warning: the root CA expires on 2029-")
            && w.ends_with(
                " days left): plan `pki rotate --ca` and a redeploy of the store and its clients"
            ),
        "{w}"
    );
    // The command check named does it.
    env.run(&["rotate", "--ca"]).ok();
    env.run(&["check"]).ok();
}

#[test]
fn check_points_csr_signed_users_at_pki_sign() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2026-01-01T00:00:00Z");
    env.run(&["init"]).ok();
    common::sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout c.key -subj /CN=carol -out c.csr 2>/dev/null",
    );
    env.run(&["sign", "--csr", "c.csr", "--days", "30"]).ok();
    env.var("PKI_NOW", "2026-01-25T00:00:00Z");
    let r = env.run(&["check"]);
    r.code(3);
    assert_eq!(
        r.stderr,
        "pki: attention: 1 due; carol signed from a CSR: sign a new CSR with `pki sign --csr FILE`\n"
    );
}
