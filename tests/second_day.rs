//! The operator's second day (issue 21, items 5 to 10, 12 and 13): what
//! went wrong following the docs on a fresh machine, each through the
//! binary.

mod common;

use common::*;

/// Item 5: an abort after exports in phase trust says both apps must be
/// deployed again (docs/rollover.md), not "next: nothing".
#[test]
fn rollover_abort_says_both_apps_are_deployed_again() {
    let env = Env::with_users(&["myuser"]);
    env.run(&["rollover", "start"]).ok();
    env.run(&["export", "marathon", "--user", "myuser"]).ok();
    env.run(&["export", "asp", "--user", "myuser"]).ok();
    let r = env.run(&["rollover", "abort"]);
    r.ok();
    assert!(!r.stdout.contains("next: nothing"), "{}", r.stdout);
    let next: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("next: "))
        .collect();
    assert_eq!(next.len(), 2, "{}", r.stdout);
    assert!(
        next[0].contains("deploy the store app again"),
        "{}",
        r.stdout
    );
    assert!(
        next[1].contains("deploy the client apps again"),
        "{}",
        r.stdout
    );
    // The JSON says the same.
    let other = Env::with_users(&["myuser"]);
    other.run(&["rollover", "start"]).ok();
    let j = other.run(&["rollover", "abort", "--json"]);
    j.ok();
    let next = j.json()["next"].as_array().unwrap().clone();
    assert_eq!(next.len(), 2, "{}", j.stdout);
}

/// Item 12: with no rollover in progress, `rollover status` names the
/// phase as the docs do (`done`); the JSON keeps `none`.
#[test]
fn rollover_status_says_done_as_the_docs_do() {
    let env = Env::with_users(&[]);
    let r = env.run(&["rollover", "status"]);
    r.ok();
    assert!(r.stdout.starts_with("phase: done"), "{}", r.stdout);
    assert!(!r.stdout.contains("phase: none"), "{}", r.stdout);
    let j = env.run(&["rollover", "status", "--json"]);
    assert_eq!(j.json()["phase"], "none");
}
