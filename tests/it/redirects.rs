//! Issue 13: pki follows no HTTP redirect (a redirected request, and the
//! keys in its body, could end up at another host; a followed PUT would
//! report that host's 200 as Marathon's), takes only the app it asked for,
//! and records every send of key material in the audit log before it
//! leaves and its outcome after, whatever the answer.

use crate::support::common;
use crate::support::fake_marathon;

use common::Env;
use fake_marathon::{Behaviour, Fake, Redirect};
use serde_json::{json, Value};

const APP: &str = "/ephemeral-store";

fn store_app() -> Value {
    json!({"id": APP, "env": {"OTHER": "kept"}, "instances": 5})
}

/// The deploy lines of the audit log: (command, event, detail); the chain verifies.
fn sends(env: &Env) -> Vec<(String, String, String)> {
    let doc: crate::support::docs::AuditShowDoc =
        serde_json::from_str(&env.run(&["audit", "show", "--json"]).stdout).unwrap();
    env.run(&["audit", "verify"]).ok();
    doc.entries
        .into_iter()
        .filter(|e| e.command.starts_with("deploy"))
        .map(|e| (e.command, e.event, e.detail.unwrap_or_default()))
        .collect()
}

fn redirecting(status: u16, location: &str, on_get: bool) -> Behaviour {
    Behaviour {
        redirect: Some(Redirect {
            status,
            location: location.into(),
            on_get,
            on_put: true,
        }),
        ..Behaviour::with_apps(&[store_app()])
    }
}

#[test]
fn a_redirected_get_is_refused_before_any_key_is_sent() {
    let env = Env::with_users(&["myuser"]);
    for status in [301, 302, 303, 307, 308] {
        // The Location points back at the fake: a client that followed it
        // would show up as a second request.
        let fake = Fake::start(redirecting(status, "/", true));
        let location = format!("{}/sso/login?next=/v2/apps", fake.url());
        fake.set(|b| b.redirect.as_mut().unwrap().location = location.clone());
        let run = env.run(&["deploy", "marathon", "--url", &fake.url()]);
        run.code(2).one_line_error(&[
            &format!("GET {}/v2/apps{APP} was answered with {status}", fake.url()),
            &location,
            "follows no redirects",
            "final URL with --url",
        ]);
        assert_eq!(
            fake.methods(),
            ["GET"],
            "{status}: not followed, nothing else sent"
        );
        assert_eq!(fake.app(APP).unwrap(), store_app());
    }
    assert!(
        sends(&env).is_empty(),
        "no key left, so no send is recorded"
    );
}

#[test]
fn a_redirected_put_fails_and_the_attempt_and_its_outcome_are_recorded() {
    let env = Env::with_users(&["myuser"]);
    for status in [301, 302, 303, 307, 308] {
        let fake = Fake::start(redirecting(status, "https://login.example/sso", false));
        let run = env.run(&["deploy", "marathon", "--url", &fake.url()]);
        run.code(1).one_line_error(&[
            &format!("PUT {}/v2/apps{APP} was answered with {status}", fake.url()),
            "https://login.example/sso",
            "final URL with --url",
        ]);
        assert!(!run.stderr.contains("PRIVATE KEY"));
        assert_eq!(fake.methods(), ["GET", "PUT"], "{status}: not followed");
        assert_eq!(fake.app(APP).unwrap(), store_app());
    }
    let log = sends(&env);
    assert_eq!(log.len(), 10, "{log:?}");
    for (pair, status) in log.chunks(2).zip([301, 302, 303, 307, 308]) {
        assert_eq!(
            (pair[0].0.as_str(), pair[0].1.as_str()),
            ("deploy marathon", "ca-key-sending")
        );
        assert!(
            pair[0].2.starts_with("PUT http://127.0.0.1:"),
            "{:?}",
            pair[0]
        );
        assert_eq!(pair[1].1, "ca-key-send-failed");
        assert!(
            pair[1].2.contains(&format!("answered with {status}"))
                && pair[1].2.contains("https://login.example/sso"),
            "{:?}",
            pair[1]
        );
    }

    // deploy asp shares the flow: the same refusal and the same record.
    env.run(&["issue", "alice"]).ok();
    let mut ctlr = store_app();
    ctlr["id"] = json!("/marathon-asp-ctlr");
    let fake = Fake::start(Behaviour {
        redirect: Some(Redirect {
            status: 307,
            location: "https://login.example/sso".into(),
            on_get: false,
            on_put: true,
        }),
        ..Behaviour::with_apps(&[ctlr])
    });
    env.run(&["deploy", "asp", "--url", &fake.url(), "--user", "alice"])
        .code(1)
        .one_line_error(&["was answered with 307", "https://login.example/sso"]);
    let log = sends(&env);
    let last: Vec<(&str, &str)> = log[log.len() - 2..]
        .iter()
        .map(|(c, e, _)| (c.as_str(), e.as_str()))
        .collect();
    assert_eq!(
        last,
        [
            ("deploy asp", "key-sending"),
            ("deploy asp", "key-send-failed")
        ]
    );
}

#[test]
fn every_outcome_is_recorded_statuses_and_transport_errors_alike() {
    let env = Env::with_users(&["myuser"]);
    let busy = Fake::start(Behaviour {
        busy: true,
        ..Behaviour::with_apps(&[store_app()])
    });
    env.run(&["deploy", "marathon", "--url", &busy.url()])
        .code(4);
    let stalled = Fake::start(Behaviour {
        stall_put: true,
        ..Behaviour::with_apps(&[store_app()])
    });
    env.run(&[
        "deploy",
        "marathon",
        "--url",
        &stalled.url(),
        "--timeout",
        "1",
    ])
    .code(1)
    .one_line_error(&["no answer from", "within 1 s"]);
    let ok = Fake::start(Behaviour::with_apps(&[store_app()]));
    env.run(&["deploy", "marathon", "--url", &ok.url()]).ok();
    let events: Vec<(&str, String)> = sends(&env)
        .iter()
        .map(|(_, e, d)| {
            (
                match e.as_str() {
                    "ca-key-sending" => "sending",
                    "ca-key-send-failed" => "failed",
                    "ca-key-deployed" => "deployed",
                    other => panic!("unexpected event {other}"),
                },
                d.clone(),
            )
        })
        .collect();
    let kinds: Vec<&str> = events.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        ["sending", "failed", "sending", "failed", "sending", "deployed"]
    );
    assert!(events[1].1.contains("answered 409"), "{:?}", events[1]);
    assert!(events[3].1.contains("no answer from"), "{:?}", events[3]);
    assert!(
        events[5].1.contains("status 200, deployment "),
        "{:?}",
        events[5]
    );
}

#[test]
fn an_answer_for_another_app_is_not_taken_for_the_app_asked_for() {
    let env = Env::with_users(&["myuser"]);
    let fake = Fake::start(Behaviour {
        report_id: Some("/other".into()),
        ..Behaviour::with_apps(&[store_app()])
    });
    env.run(&["deploy", "marathon", "--url", &fake.url()])
        .code(1)
        .one_line_error(&[
            "answered with the app \"/other\", not /ephemeral-store",
            "--url",
        ]);
    assert_eq!(fake.methods(), ["GET"]);
    assert!(sends(&env).is_empty());
}

#[test]
fn a_failed_deploy_does_not_count_as_deploying_a_rollover_phase() {
    let env = Env::with_users(&["myuser"]);
    env.run(&["rollover", "start"]).ok();
    let busy = Fake::start(Behaviour {
        busy: true,
        ..Behaviour::with_apps(&[store_app()])
    });
    env.run(&["deploy", "marathon", "--url", &busy.url()])
        .code(4);
    // Recorded (attempt and failure), but the store still has the old env.
    assert_eq!(sends(&env).len(), 2);
    env.run(&["rollover", "advance"])
        .code(4)
        .one_line_error(&["not deployed yet", "store export"]);
    let ok = Fake::start(Behaviour::with_apps(&[store_app()]));
    env.run(&["deploy", "marathon", "--url", &ok.url()]).ok();
    env.run(&["rollover", "advance"])
        .code(4)
        .one_line_error(&["not deployed yet", "client export"]);
    env.run(&["export", "asp", "--user", "myuser"]).ok();
    env.run(&["rollover", "advance"]).ok();
}
