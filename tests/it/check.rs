//! `pki check`: exit codes, JSON, and the node_exporter textfile.

use crate::support::common;
use crate::support::rotation;

use crate::support::docs::CheckDoc;
use common::{mode, Env};

fn check_doc(r: &common::Run) -> CheckDoc {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn store() -> Env {
    let users = [("alice", "100"), ("bob", "30"), ("carol", "365")];
    rotation::store_at("2026-01-01T00:00:00Z", &["--days", "1000"], &users)
}

#[test]
fn exit_0_when_nothing_is_due_3_when_something_is() {
    let mut env = store();
    let r = env.run(&["check", "--json"]);
    let d = check_doc(r.ok());
    assert!(d.due.is_empty() && d.expired.is_empty() && !d.ca_due);
    assert_eq!(d.version, 1);
    assert_eq!(env.run(&["check"]).ok().stdout, "");

    // Day 75: alice (100 days) is due; bob (30 days) expired on day 30.
    env.var("PKI_NOW", "2026-03-17T00:00:00Z");
    let r = env.run(&["check", "--json"]);
    let d = check_doc(r.code(3));
    assert_eq!(d.due, ["alice"]);
    assert_eq!(d.expired, ["bob"]);
    assert!(!d.ca_due);
    let r = env.run(&["check"]);
    r.code(3)
        .one_line_attention(&["1 due, 1 expired", "pki rotate"]);
    assert!(
        r.stdout.contains("due      alice") && r.stdout.contains("expired  bob"),
        "{}",
        r.stdout
    );
    // -q silences the summary, not the exit code.
    let r = env.run(&["-q", "check"]);
    assert_eq!((r.code, r.stderr.as_str()), (3, ""));
    // A narrower window: only the expired one.
    let d = check_doc(env.run(&["check", "--json", "--within", "12h"]).code(3));
    assert!(d.due.is_empty());
    assert_eq!(d.expired, ["bob"]);
    // After a rotation nothing is due.
    env.run(&["rotate"]).ok();
    check_doc(env.run(&["check", "--json"]).ok());

    // The CA alone inside its window (day 700 of 1000) is attention too.
    env.var("PKI_NOW", "2027-12-02T00:00:00Z");
    env.run(&["rotate"]).ok();
    let d = check_doc(env.run(&["check", "--json"]).code(3));
    assert!(d.ca_due && d.due.is_empty() && d.expired.is_empty());
    env.run(&["check"])
        .code(3)
        .one_line_attention(&["CA due", "rotate --ca"]);

    env.run(&["check", "--within", "soon"]).code(2);
}

#[test]
fn check_reads_the_index_alone() {
    let env = store();
    std::fs::remove_dir_all(env.store().join("users")).unwrap();
    env.run(&["check"]).ok();
    Env::new()
        .run(&["check"])
        .code(2)
        .one_line_error(&["pki init"]);
}

#[test]
fn the_prometheus_textfile() {
    let mut env = store();
    env.var("PKI_NOW", "2026-03-17T00:00:00Z");
    let prom = env.path("pki.prom");
    env.run(&["check", "--prometheus", prom.to_str().unwrap()])
        .code(3);
    assert_eq!(mode(&prom), 0o644);
    let text = std::fs::read_to_string(&prom).unwrap();
    let ix = rotation::index(&env);
    let ts = |s: &serde_json::Value| {
        time::OffsetDateTime::parse(
            s.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp()
    };
    for c in ix["certificates"].as_array().unwrap() {
        let (u, s) = (c["user"].as_str().unwrap(), c["serial"].as_str().unwrap());
        let line = format!(
            "pki_certificate_not_after_seconds{{user=\"{u}\",serial=\"{s}\"}} {}\n",
            ts(&c["not_after"])
        );
        assert!(text.contains(&line), "{line} missing from:\n{text}");
        let due = if u == "carol" { 0 } else { 1 };
        assert!(
            text.contains(&format!(
                "pki_certificate_due{{user=\"{u}\",serial=\"{s}\"}} {due}\n"
            )),
            "{text}"
        );
    }
    let ca = format!(
        "pki_ca_not_after_seconds{{subject=\"CN=rootCA\",serial=\"{}\"}} {}\n",
        ix["ca"]["serial"].as_str().unwrap(),
        ts(&ix["ca"]["not_after"])
    );
    assert!(text.contains(&ca), "{ca} missing from:\n{text}");
    // Every sample line is `name{labels} integer`, and each metric has HELP and TYPE.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (head, value) = line.rsplit_once(' ').unwrap();
        assert!(
            head.ends_with('}') && value.parse::<i64>().is_ok(),
            "{line}"
        );
    }
    for m in [
        "pki_certificate_not_after_seconds",
        "pki_certificate_due",
        "pki_ca_not_after_seconds",
        "pki_ca_due",
    ] {
        assert!(text.contains(&format!("# TYPE {m} gauge\n")), "{m}");
    }
    // Rewritten in place atomically on the next run (no temp files left).
    env.var("PKI_NOW", "2026-01-02T00:00:00Z");
    env.run(&["check", "--prometheus", prom.to_str().unwrap()])
        .ok();
    assert!(std::fs::read_to_string(&prom)
        .unwrap()
        .contains("pki_certificate_due{user=\"alice\""));
    let names: Vec<_> = std::fs::read_dir(env.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".tmp")),
        "{names:?}"
    );
    // A textfile in a missing directory is a failure, with the path.
    let r = env.run(&[
        "check",
        "--prometheus",
        env.path("nope/x.prom").to_str().unwrap(),
    ]);
    r.code(1).one_line_error(&["nope"]);
}

#[test]
fn check_warns_when_the_crl_needs_publishing() {
    let mut env = Env::with_users(&["u"]);
    let doc = check_doc(&env.run(&["check", "--json"]));
    assert_eq!(doc.crl_warning, None);
    // A revocation with no CRL made since: warned, exit code unchanged.
    env.run(&["revoke", "u"]).ok();
    let r = env.run(&["check", "--json"]);
    r.ok();
    let doc = check_doc(&r);
    let w = doc.crl_warning.expect("a CRL warning");
    assert!(
        r.stderr.contains("pki: warning:") && r.stderr.contains(&w),
        "{}",
        r.stderr
    );
    env.run(&["crl", "--days", "30"]).ok();
    assert_eq!(check_doc(&env.run(&["check", "--json"])).crl_warning, None);
    // Near next-update (a third or less of its lifetime left).
    env.var(
        "PKI_NOW",
        &(time::OffsetDateTime::now_utc() + time::Duration::days(25))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    );
    let doc = check_doc(&env.run(&["check", "--json"]));
    assert!(doc.crl_warning.is_some());
}
