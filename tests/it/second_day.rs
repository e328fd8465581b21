//! The operator's second day: what went wrong following the docs on a
//! fresh machine (rollover abort's words, migrated stores, init after
//! init, CRL destinations, deploys with nothing to send, completions,
//! cron's silence, easy-rsa folders, orphans), each through the binary.

use crate::support::{common, fake_marathon};

use common::*;
use fake_marathon::{Behaviour, Fake};
use serde_json::json;

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

/// The vendor's documented procedure (docs/migrating.md, step 1).
const VENDOR: &str = "
openssl genrsa -out rootCA.key 2048
openssl req -new -key rootCA.key -subj /CN=rootCA -out rootCA.csr
openssl x509 -req -in rootCA.csr -signkey rootCA.key -sha256 -days 365 -out rootCA.crt
sleep 1
openssl genrsa -out myuser.key 2048
openssl req -new -key myuser.key -subj /CN=myuser -out myuser.csr
openssl x509 -req -in myuser.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -sha256 -days 365 -out myuser.crt
";

/// Item 6: a store made by docs/migrating.md passes `verify` with
/// warnings that say what the vendor's procedure makes and when it
/// matters; `import --user` says the same.
#[test]
fn a_migrated_store_verifies_with_warnings() {
    let env = Env::new();
    sh(&env, VENDOR);
    let r = env.run(&[
        "--dir",
        "./pki",
        "import",
        "--cert",
        "rootCA.crt",
        "--key",
        "rootCA.key",
    ]);
    r.ok();
    let r = env.run(&[
        "--dir",
        "./pki",
        "import",
        "--user",
        "myuser",
        "--cert",
        "myuser.crt",
        "--key",
        "myuser.key",
    ]);
    r.ok();
    for w in ["X.509 v1 without extendedKeyUsage", "after its CA"] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("pki: warning: myuser: ") && l.contains(w)),
            "{w}: {}",
            r.stderr
        );
    }
    let v = env.run(&["--dir", "./pki", "verify"]);
    v.ok();
    let warn: Vec<&str> = v.stdout.lines().filter(|l| l.starts_with("warn")).collect();
    assert_eq!(warn.len(), 2, "{}", v.stdout);
    assert!(warn
        .iter()
        .any(|l| l.contains("eku") && l.contains("vendor's openssl procedure")));
    assert!(warn
        .iter()
        .any(|l| l.contains("validity") && l.contains("harmless until the CA expires on")));
    assert!(v.stderr.contains("with a warning"), "{}", v.stderr);
    let j = env.run(&["--dir", "./pki", "verify", "--json"]);
    j.ok();
    let doc = j.json();
    assert_eq!(doc["ok"], true);
    let warned = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["warning"] == true && f["ok"] == true)
        .count();
    assert_eq!(warned, 2, "{}", j.stdout);
}

/// Item 7: `pki init` then `pki init --crl-url URL` suggests `pki config
/// set crl-url URL`, not --force; the store is left as it was.
#[test]
fn init_again_with_a_crl_url_suggests_config_set() {
    let env = Env::with_users(&[]);
    let before = env.snapshot(&env.store());
    let url = "http://crl.example.internal/rootCA.crl";
    let r = env.run(&["init", "--crl-url", url]);
    r.code(4)
        .one_line_error(&[&format!("pki config set crl-url {url}")]);
    assert!(!r.stderr.contains("pass --force"), "{}", r.stderr);
    assert_eq!(before, env.snapshot(&env.store()));
    env.run(&["config", "set", "crl-url", url]).ok();
}

/// Item 8: `pki crl --out` into a missing directory is refused before CRL
/// #1 is made: nothing recorded, nothing audited, no blame on free space.
#[test]
fn crl_out_into_a_missing_directory_makes_no_crl() {
    let env = Env::with_users(&["alice"]);
    env.run(&[
        "config",
        "set",
        "crl-url",
        "http://crl.example.internal/rootCA.crl",
    ])
    .ok();
    let before = env.snapshot(&env.store());
    let missing = env.path("srv/crl/rootCA.crl");
    let r = env.run(&["crl", "--out", missing.to_str().unwrap(), "--format", "der"]);
    r.code(2)
        .one_line_error(&["does not exist", "mkdir -p", "no CRL was made"]);
    assert!(!r.stderr.contains("free space"), "{}", r.stderr);
    assert_eq!(before, env.snapshot(&env.store()), "the store changed");
    // Once the directory is there, the same command makes CRL #1.
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    let r = env.run(&["crl", "--out", missing.to_str().unwrap(), "--format", "der"]);
    r.ok();
    assert!(r.stderr.contains("CRL #1 "), "{}", r.stderr);
}

/// Item 9: in a store whose certificates name no CRL URL, a CRL made once
/// is fetched by nobody: `check` does not call it stale weeks later.
#[test]
fn check_ignores_the_age_of_a_crl_nobody_fetches() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2026-03-01T00:00:00Z");
    env.run(&["init"]).ok();
    env.run(&["issue", "alice", "bob"]).ok();
    env.run(&["crl"]).ok();
    env.var("PKI_NOW", "2026-03-02T00:00:00Z");
    env.run(&["revoke", "bob"]).ok();
    env.var("PKI_NOW", "2026-04-15T00:00:00Z");
    let r = env.run(&["check"]);
    r.ok();
    assert!(!r.stderr.contains("CRL stale"), "{}", r.stderr);
    assert!(!r.stdout.contains("stale"), "{}", r.stdout);
    // At most a hint that says why it is no alarm.
    for l in r.stderr.lines().filter(|l| l.contains("CRL #1")) {
        assert!(
            l.starts_with("pki: warning: ") && l.contains("no alarm"),
            "{l}"
        );
    }
    assert_eq!(env.run(&["check", "--json"]).json()["crl_due"], false);
    let p = env.path("pki.prom");
    env.run(&["check", "--prometheus", p.to_str().unwrap()])
        .ok();
    let prom = std::fs::read_to_string(&p).unwrap();
    let due = prom
        .lines()
        .find(|l| l.starts_with("pki_crl_due{"))
        .expect(&prom);
    assert!(due.ends_with(" 0"), "{due}");
}

/// Item 12: the CRL cron line of the docs prints nothing when all is well
/// (cron mails whatever a job prints).
#[test]
fn the_crl_cron_line_is_silent_on_success() {
    for doc in ["docs/quickstart.md", "docs/revocation.md"] {
        let env = Env::with_users(&["alice"]);
        env.run(&[
            "config",
            "set",
            "crl-url",
            "http://crl.example.internal:8911/rootCA.crl",
        ])
        .ok();
        std::fs::create_dir_all(env.path("crl")).unwrap();
        let map = [
            ("/usr/local/bin/pki", PKI.to_string()),
            (
                "/etc/pki/ephemeral-store",
                env.store().display().to_string(),
            ),
            ("/srv/crl", env.path("crl").display().to_string()),
        ];
        let lines = cron_lines(&page(doc));
        let line = lines.iter().find(|l| l.contains(" crl ")).expect(doc);
        let out = run_as_cron(&localise(&cron_command(line), &map), &[], env.root());
        assert!(out.status.success(), "{doc}: {out:?}");
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{doc}: {out:?}"
        );
        assert!(env.path("crl/rootCA.crl").is_file(), "{doc}");
    }
}

/// The store's app as Marathon runs it, before pki deployed anything.
fn store_app() -> serde_json::Value {
    json!({
        "id": "/ephemeral-store",
        "instances": 5,
        "env": {"JAVA_OPTS": "-Xmx512m"},
        "container": {"type": "DOCKER", "docker": {"image": "f5networks/ephemeral-store:1.1.0"}},
        "version": "2017-10-02T18:56:43.319Z"
    })
}

/// The controller app, before pki deployed anything.
fn ctlr_app() -> serde_json::Value {
    json!({
        "id": "/marathon-asp-ctlr",
        "env": {"ASP_EPHEMERAL_STORE": "{\"host\": \"store.internal\", \"port\": 8087, \"users\": {}}"},
        "version": "2017-10-02T18:56:43.319Z"
    })
}

fn audit_events(env: &Env) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.store().join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Item 10: a deploy whose env is already in place sends nothing, says
/// so, audits it as no delivery, and reports it in JSON; --force-restart
/// sends anyway. For `deploy marathon` and `deploy asp`.
#[test]
fn a_deploy_of_what_the_app_holds_sends_nothing() {
    let env = Env::with_users(&["myuser"]);
    let fake = Fake::start(Behaviour::with_apps(&[store_app(), ctlr_app()]));
    let url = fake.url();
    for (target, extra) in [("marathon", vec![]), ("asp", vec!["--user", "myuser"])] {
        let mut args = vec!["deploy", target, "--url", &url];
        args.extend(&extra);
        env.run(&args).ok();
        let puts = |f: &Fake| f.methods().iter().filter(|m| *m == "PUT").count();
        let before = puts(&fake);
        let r = env.run(&args);
        r.ok();
        assert!(
            r.stderr.contains("unchanged: nothing sent"),
            "{target}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("restarts its tasks"),
            "{target}: {}",
            r.stderr
        );
        assert_eq!(puts(&fake), before, "{target}: a PUT was sent");
        let last = audit_events(&env).pop().unwrap();
        assert_eq!(last["event"], "deploy-unchanged", "{target}: {last}");
        assert_eq!(last["command"], format!("deploy {target}"));
        // --json says so.
        let mut j = args.clone();
        j.push("--json");
        let r = env.run(&j);
        r.ok();
        let doc = r.json();
        assert_eq!(doc["unchanged"], true, "{target}: {}", r.stdout);
        assert_eq!(doc["status"], serde_json::Value::Null);
        assert_eq!(puts(&fake), before, "{target}: a PUT was sent");
        // --force-restart sends anyway.
        let mut f = args.clone();
        f.push("--force-restart");
        let r = env.run(&f);
        r.ok();
        assert!(
            r.stderr.contains("restarts its tasks"),
            "{target}: {}",
            r.stderr
        );
        assert_eq!(puts(&fake), before + 1, "{target}");
    }
    // A re-issue changes the controller's env (the store's carries only
    // the CA): the next deploy asp sends.
    env.run(&["issue", "--force", "myuser"]).ok();
    let before = fake.methods().len();
    let r = env.run(&["deploy", "asp", "--url", &url, "--user", "myuser", "--json"]);
    r.ok();
    assert!(r.json().get("unchanged").is_none(), "{}", r.stdout);
    assert_eq!(fake.methods()[before..], ["GET", "PUT"]);
    env.run(&["audit", "verify"]).ok();
}

/// Item 12: `pki issue --user carl` is `pki issue carl`.
#[test]
fn issue_takes_user_as_a_flag_too() {
    let env = Env::with_users(&[]);
    env.run(&["issue", "--user", "carl"]).ok();
    env.run(&["issue", "dave", "--user", "erin"]).ok();
    for u in ["carl", "dave", "erin"] {
        assert!(env.index().active(u).is_some(), "{u}");
    }
}

/// Item 12: a token file that cannot be read is named with its flag.
#[test]
fn an_unreadable_token_file_names_the_flag() {
    let env = Env::with_users(&["myuser"]);
    let r = env.run(&[
        "deploy",
        "marathon",
        "--url",
        "http://127.0.0.1:9",
        "--token-file",
        "/nonexistent",
    ]);
    r.code(2)
        .one_line_error(&["--token-file: cannot read /nonexistent", "--token-file"]);
    let r = env.run(&[
        "deploy",
        "asp",
        "--url",
        "https://127.0.0.1:9",
        "--user",
        "myuser",
        "--ca-cert",
        "/nonexistent/ca.crt",
    ]);
    r.code(2)
        .one_line_error(&["--ca-cert: cannot read /nonexistent/ca.crt"]);
}

/// Item 12: an --on-change hook that exits 127 (command not found) gets
/// a hint about absolute paths under cron.
#[test]
fn a_hook_not_found_gets_the_absolute_path_hint() {
    let env = Env::with_users(&["alice"]);
    let r = env.run(&[
        "rotate",
        "alice",
        "--force",
        "--on-change",
        "pki-deploy-that-is-not-on-path",
    ]);
    r.code(1);
    assert!(r.stderr.contains("status 127"), "{}", r.stderr);
    assert!(r.stderr.contains("absolute path"), "{}", r.stderr);
    // Another status gets no such hint.
    let r = env.run(&["rotate", "alice", "--force", "--on-change", "exit 3"]);
    r.code(1);
    assert!(!r.stderr.contains("absolute path"), "{}", r.stderr);
}

/// Item 12: `check`'s rows are aligned: each column starts at the same
/// place on every line, whatever the names' lengths.
#[test]
fn check_aligns_its_columns() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2026-01-01T00:00:00Z");
    env.run(&["init"]).ok();
    env.run(&["issue", "al", "--days", "30"]).ok();
    env.run(&["issue", "alexandra.long-name", "--days", "30"])
        .ok();
    env.run(&["issue", "bo", "--days", "10"]).ok();
    env.var("PKI_NOW", "2026-01-25T00:00:00Z");
    let r = env.run(&["check"]);
    r.code(3);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    let col = |l: &str, w: &str| l.find(w).unwrap_or_else(|| panic!("{w} in {l}"));
    let at: Vec<usize> = lines.iter().map(|l| col(l, "not after")).collect();
    assert!(at.iter().all(|c| *c == at[0]), "{}", r.stdout);
    let at: Vec<usize> = lines.iter().map(|l| col(l, "(")).collect();
    assert!(at.iter().all(|c| *c == at[0]), "{}", r.stdout);
}

/// Item 12: where easy-rsa made `./pki`, `list` and `init` say so and
/// suggest --dir, and leave it alone.
#[test]
fn an_easy_rsa_pki_is_named_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    for d in ["pki", "pki/private", "pki/reqs", "pki/issued"] {
        std::fs::create_dir(env.path(d)).unwrap();
        std::fs::set_permissions(env.path(d), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::write(env.path("pki/ca.crt"), "not ours").unwrap();
    let before = env.snapshot(&env.store());
    let r = env.run(&["list"]);
    r.code(2).one_line_error(&["easy-rsa", "--dir"]);
    assert!(!r.stderr.contains("run `pki init`"), "{}", r.stderr);
    let r = env.run(&["init"]);
    r.code(4).one_line_error(&["easy-rsa", "--dir"]);
    assert_eq!(before, env.snapshot(&env.store()));
    // As suggested: another directory.
    env.run(&["--dir", "ephemeral-store-pki", "init"]).ok();
}

/// Item 12: key files a batch left before its commit (SIGINT) are named by
/// `verify` (a warning) and removed by the rerun.
#[test]
fn orphans_of_an_interrupted_batch_are_reported_then_removed() {
    let env = Env::with_users(&["alice"]);
    // What a batch killed before its commit leaves: files no index names.
    let dir = env.store().join("users/alice");
    std::fs::write(dir.join("0badc0ffee.key"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::write(dir.join("0badc0ffee.crt"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    for f in ["0badc0ffee.key", "0badc0ffee.crt"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let v = env.run(&["verify"]);
    v.ok();
    let warn: Vec<&str> = v.stdout.lines().filter(|l| l.starts_with("warn")).collect();
    assert_eq!(warn.len(), 2, "{}", v.stdout);
    assert!(warn.iter().all(|l| l.contains("orphan")), "{}", v.stdout);
    assert!(
        warn[1].contains("users/alice/0badc0ffee.key"),
        "{}",
        v.stdout
    );
    // The rerun of the batch.
    env.run(&["issue", "bob"]).ok();
    assert!(!dir.join("0badc0ffee.key").exists());
    assert!(!dir.join("0badc0ffee.crt").exists());
    let v = env.run(&["verify"]);
    v.ok();
    assert!(!v.stdout.contains("orphan"), "{}", v.stdout);
    // Every file the index names is still there.
    let (crt, key) = env.user_files("alice");
    assert!(crt.is_file() && key.is_file());
}

/// Item 12: `revoke` names an older certificate of the same user that was
/// superseded, not revoked, and still works.
#[test]
fn revoke_names_a_superseded_certificate_still_valid() {
    let env = Env::with_users(&["alice"]);
    let old = env.index().active("alice").unwrap().serial.to_string();
    env.run(&["issue", "alice", "--force"]).ok();
    let r = env.run(&["revoke", "alice"]);
    r.ok();
    assert!(
        r.stderr.lines().any(|l| l.starts_with("pki: warning: ")
            && l.contains(&old)
            && l.contains(&format!("pki revoke --serial {old}"))),
        "{}",
        r.stderr
    );
    // Once revoked too, nothing more to say.
    env.run(&["revoke", "--serial", &old]).ok();
    env.run(&["issue", "alice"]).ok();
    let r = env.run(&["revoke", "alice"]);
    r.ok();
    assert!(!r.stderr.contains("older certificate"), "{}", r.stderr);
}
