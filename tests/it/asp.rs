//! The client half on Marathon (issue 12): `pki export asp` prints the
//! `marathon-asp-ctlr` app's `ASP_EPHEMERAL_STORE`, a full controller app
//! (`--format app`) or an existing one updated (`--merge`); `pki deploy
//! asp` sets it in the running controller over Marathon's API.
//!
//! The value is JSON inside a JSON string, so every test parses it twice;
//! what it carries is judged by openssl and by Erlang/OTP's ssl (Riak's
//! TLS stack); apps are judged by Marathon's own schema and the fake
//! Marathon's rules; the vendor's documents are read from ../shared/vendor.
//!
//! The tests listed in `each_backend!` at the end run once on a directory
//! store and once on a store in OpenBao (support/backend.rs).

use crate::support::common;
use crate::support::fake_marathon;
use crate::support::handshake;
use crate::support::vendor;

use std::path::PathBuf;

use common::{openssl, openssl_public_key, Backend, Env};
use fake_marathon::{Behaviour, Fake, PUT_DEPLOYMENT};
use serde_json::{json, Value};

const KEY: &str = "ASP_EPHEMERAL_STORE";
const CTLR: &str = "/marathon-asp-ctlr";
const HOST: &str = "ephemeral-store.marathon.l4lb.thisdcos.directory";

/// The output's env object and the value inside its string, each parsed.
fn parse_twice(stdout: &str) -> (Value, Value) {
    let outer: Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    let inner = store_value(&outer);
    (outer, inner)
}

/// The value of `ASP_EPHEMERAL_STORE` in an env object, parsed.
fn store_value(env: &Value) -> Value {
    let s = env[KEY]
        .as_str()
        .unwrap_or_else(|| panic!("{KEY} is not a string in {env}"));
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{KEY} is not JSON ({e}): {s}"))
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn write(env: &Env, name: &str, text: &str) -> PathBuf {
    let p = env.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[track_caller]
fn assert_no_key(text: &str) {
    assert!(
        !text.contains("PRIVATE KEY"),
        "key material printed:\n{text}"
    );
}

/// The audit log's (command, event, user) triples.
fn audit(env: &Env) -> Vec<(String, String, Option<String>)> {
    let doc: crate::support::docs::AuditShowDoc =
        serde_json::from_str(&env.run(&["audit", "show", "--json"]).stdout).unwrap();
    env.run(&["audit", "verify"]).ok();
    doc.entries
        .into_iter()
        .map(|e| (e.command, e.event, e.user))
        .collect()
}

fn audit_text(env: &Env) -> String {
    std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap_or_default()
}

fn the_string_parses_twice_into_keys_certificates_and_the_root_ca_that_openssl_accepts(
    backend: Backend,
) {
    let env = Env::with_users_on(backend, &["alice", "bob", "carol"]);
    let run = env.run(&["export", "asp", "--user", "alice", "--user", "bob"]);
    run.ok();
    assert_no_key(&run.stderr);
    assert!(
        run.stderr.contains("private keys"),
        "warns that the output carries private keys: {}",
        run.stderr
    );
    // JSON inside JSON: the PEM line breaks are escaped twice in the output.
    assert!(run.stdout.contains(r"\\n"), "{}", run.stdout);
    let (outer, inner) = parse_twice(&run.stdout);
    assert_eq!(keys(&outer), [KEY]);
    assert_eq!(keys(&inner), ["host", "port", "users", "root-ca"]);
    assert_eq!(inner["host"], HOST);
    assert!(inner["port"].is_u64() && inner["port"] == 8087, "{inner}");
    assert_eq!(keys(&inner["users"]), ["alice", "bob"]);
    let (ca_crt, _) = env.ca_files();
    let root_ca = inner["root-ca"].as_str().unwrap();
    assert_eq!(root_ca, std::fs::read_to_string(&ca_crt).unwrap());
    let root_ca_file = write(&env, "root-ca.pem", root_ca);

    for user in ["alice", "bob"] {
        let entry = &inner["users"][user];
        assert_eq!(keys(entry), ["key", "cert"]);
        let key = entry["key"].as_str().unwrap();
        let cert = entry["cert"].as_str().unwrap();
        // PKCS#1, the form the deployment documents, with real line breaks.
        assert!(
            key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{user}"
        );
        let (store_crt, _) = env.user_files(user);
        assert_eq!(cert, std::fs::read_to_string(store_crt).unwrap());
        let key_file = write(&env, &format!("{user}.key"), key);
        let crt_file = write(&env, &format!("{user}.crt"), cert);
        assert_eq!(
            openssl_public_key(&key_file),
            openssl_public_key(&crt_file),
            "{user}: key and certificate are a pair"
        );
        let (ok, subject) = openssl(&[
            "x509",
            "-in",
            crt_file.to_str().unwrap(),
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
        ]);
        assert!(
            ok && subject.trim() == format!("subject=CN={user}"),
            "{subject}"
        );
        let (ok, said) = common::openssl_verify_client(&root_ca_file, &crt_file);
        assert!(ok, "{user}: {said}");
    }
    // The pair check can fail.
    assert_ne!(
        openssl_public_key(&env.path("alice.key")),
        openssl_public_key(&env.path("bob.crt"))
    );

    // --store-host, --store-port and --key-format.
    let run = env.run(&[
        "export",
        "asp",
        "--user",
        "carol",
        "--store-host",
        "10.0.0.5",
        "--store-port",
        "18087",
        "--key-format",
        "pkcs8",
    ]);
    let (_, inner) = parse_twice(&run.ok().stdout);
    assert_eq!(
        (inner["host"].as_str(), inner["port"].as_u64()),
        (Some("10.0.0.5"), Some(18087))
    );
    assert!(inner["users"]["carol"]["key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));

    // Several users after one --user, as a hook gets them from $PKI_ROTATED_USERS.
    let run = env.run(&["export", "asp", "--user", "alice", "carol"]);
    let (_, inner) = parse_twice(&run.ok().stdout);
    assert_eq!(keys(&inner["users"]), ["alice", "carol"]);

    // Every export is recorded, one line per user, without key bytes.
    let log = audit(&env);
    let exports: Vec<_> = log
        .iter()
        .filter(|(c, _, _)| c == "export asp")
        .map(|(_, e, u)| (e.as_str(), u.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        exports,
        [
            ("key-exported", "alice"),
            ("key-exported", "bob"),
            ("key-exported", "carol"),
            ("key-exported", "alice"),
            ("key-exported", "carol")
        ]
    );
    assert_no_key(&audit_text(&env));
}

#[test]
fn erlang_ssl_accepts_the_key_and_certificate_taken_out_of_the_string() {
    if !handshake::erlang_or_skip() {
        return;
    }
    let env = Env::with_users(&["alice"]);
    let run = env.run(&["export", "asp", "--user", "alice"]);
    let (_, inner) = parse_twice(&run.ok().stdout);
    let user = &inner["users"]["alice"];
    let key = write(&env, "alice.key", user["key"].as_str().unwrap());
    let crt = write(&env, "alice.crt", user["cert"].as_str().unwrap());
    // The server trusts only the root CA the string carries.
    let ca = write(&env, "root-ca.pem", inner["root-ca"].as_str().unwrap());
    let (node_crt, node_key) = handshake::node_cert(&env);
    assert_eq!(
        handshake::erlang_handshake(&ca, (&node_crt, &node_key), (&crt, &key)),
        "OK CN=alice"
    );
    // The same server refuses a user of another store.
    let other = Env::with_users(&["alice"]);
    let (other_crt, other_key) = other.user_files("alice");
    let verdict =
        handshake::erlang_handshake(&ca, (&node_crt, &node_key), (&other_crt, &other_key));
    assert!(
        verdict.starts_with("FAIL") && verdict.contains("unknown_ca"),
        "{verdict}"
    );
}

#[test]
fn the_refusals_of_export_marathon_hold_and_change_nothing() {
    let env = Env::with_users(&["alice", "bob"]);
    env.run(&["revoke", "bob"]).ok();
    // A user signed from a CSR: its key is not in the store.
    common::sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout dave.key -subj /CN=dave -out dave.csr 2>/dev/null",
    );
    env.run(&["sign", "--csr", "dave.csr"]).ok();
    env.run(&["issue", "eve", "--key-type", "ecdsa-p256"]).ok();
    write(&env, "app.json", r#"{"id": "/marathon-asp-ctlr"}"#);
    let before = audit_text(&env);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--user", "nobody"], "nobody"),
        (vec!["--user", "bob"], "revoked"),
        (vec!["--user", "Alice"], "upper-case"),
        (vec!["--user", "dave"], "not in the store"),
        (vec!["--user", "eve"], "RSA"),
        (vec!["--user", "alice", "--user", "nobody"], "nobody"),
        (vec![], "--user"),
        (vec!["--user", "alice", "--store-port", "0"], "--store-port"),
        (
            vec!["--user", "alice", "--store-host", "a b"],
            "--store-host",
        ),
        (
            vec![
                "--user",
                "alice",
                "--env",
                "ASP_EPHEMERAL_STORE=x",
                "--format",
                "app",
            ],
            "ASP_EPHEMERAL_STORE",
        ),
        (
            vec!["--user", "alice", "--format", "app", "--merge", "app.json"],
            "cannot be used with",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["export", "asp"];
        full.extend_from_slice(&args);
        let r = env.run(&full);
        r.code(2).one_line_error(&[want]);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    assert_eq!(audit_text(&env), before, "a refused export records nothing");

    // A non-RSA key or CA passes only with --allow-non-rsa.
    env.run(&["export", "asp", "--user", "eve", "--allow-non-rsa"])
        .ok();
    let ec = Env::new();
    ec.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    ec.run(&["issue", "alice"]).ok();
    ec.run(&["export", "asp", "--user", "alice"])
        .code(2)
        .one_line_error(&["RSA", "--allow-non-rsa"]);
    ec.run(&["export", "asp", "--user", "alice", "--allow-non-rsa"])
        .ok();
}

#[test]
fn format_app_is_the_vendors_controller_app_and_valid() {
    let env = Env::with_users(&["alice"]);
    let app = env
        .run(&["export", "asp", "--user", "alice", "--format", "app"])
        .json();
    for version in ["1.3.9", "1.5.15"] {
        common::assert_app_valid(version, &app);
    }
    let example = vendor::controller_example();
    for field in ["id", "cpus", "mem", "instances", "container"] {
        assert_eq!(app[field], example[field], "{field}");
    }
    assert_eq!(app["id"], CTLR);
    assert_eq!(
        app["container"]["docker"]["image"],
        "f5networks/marathon-asp-ctlr:1.1.0"
    );
    assert_eq!(app["container"]["docker"]["network"], "BRIDGE");
    // The env: the vendor's settings with the vendor's values, but for the
    // site's Marathon URL, the value pki writes, and the stats settings the
    // example marks "include if sending stats" (placeholders there).
    let env_of = app["env"].as_object().unwrap();
    assert!(env_of.values().all(Value::is_string));
    for (k, v) in example["env"].as_object().unwrap() {
        match k.as_str() {
            "MARATHON_URL" => assert_eq!(env_of[k], "http://marathon.mesos:8080"),
            KEY => {}
            "ASP_DEFAULT_STATS_URL" | "ASP_DEFAULT_STATS_TOKEN" | "ASP_DEFAULT_STATS_BACKEND" => {
                assert!(env_of.get(k).is_none(), "{k}")
            }
            _ => assert_eq!(&env_of[k], v, "{k}"),
        }
    }
    assert!(
        env_of.keys().all(|k| example["env"].get(k).is_some()),
        "{:?}",
        env_of.keys()
    );
    // The value is the one the env format prints, shaped as the vendor's.
    let block = env.run(&["export", "asp", "--user", "alice"]).json();
    assert_eq!(app["env"][KEY], block[KEY]);
    let ours = store_value(&app["env"]);
    let theirs = store_value(&example["env"]);
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(ours["host"], theirs["host"]);
    assert_eq!(ours["port"], theirs["port"]);
    assert_eq!(
        keys(&ours["users"]["alice"]),
        keys(&theirs["users"]["myUser"])
    );

    let custom = env
        .run(&[
            "export",
            "asp",
            "--user",
            "alice",
            "--format",
            "app",
            "--image",
            "registry.local/ctlr:1.2",
            "--app-id",
            "/asp/ctlr",
            "--marathon-url",
            "https://marathon.example:8443",
            "--env",
            "ASP_DEFAULT_LOG_LEVEL=info",
            "--env",
            "ASP_DEFAULT_STATS_URL=http://splunk.example:8088",
        ])
        .json();
    common::assert_app_valid("1.3.9", &custom);
    assert_eq!(custom["id"], "/asp/ctlr");
    assert_eq!(
        custom["container"]["docker"]["image"],
        "registry.local/ctlr:1.2"
    );
    assert_eq!(
        custom["env"]["MARATHON_URL"],
        "https://marathon.example:8443"
    );
    assert_eq!(custom["env"]["ASP_DEFAULT_LOG_LEVEL"], "info");
    assert_eq!(
        custom["env"]["ASP_DEFAULT_STATS_URL"],
        "http://splunk.example:8088"
    );
}

/// The vendor's `GET /v2/apps/marathon-asp-ctlr` answer, with other users
/// in its value beside the vendor's placeholder `myUser`: `bob` of this
/// store, `legacy` of another CA, `junk` that is no certificate.
fn controller_answer(env: &Env, other: &Env) -> Value {
    let mut answer = vendor::controller_get_answer();
    let mut value = store_value(&answer["app"]["env"]);
    let (bob_crt, bob_key) = env.user_files("bob");
    let (legacy_crt, legacy_key) = other.user_files("legacy");
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    value["host"] = json!("store.internal");
    value["port"] = json!(18087);
    value["users"]["bob"] = json!({"key": read(bob_key), "cert": read(bob_crt)});
    value["users"]["legacy"] =
        json!({"cert": read(legacy_crt), "key": read(legacy_key), "note": 1});
    value["users"]["junk"] = json!({"key": "k", "cert": "hello"});
    answer["app"]["env"][KEY] = json!(value.to_string());
    answer
}

/// What a merge must have kept: every field of the app but the env and
/// the read-only ones, every env variable but ours, every other user.
#[track_caller]
fn assert_only_the_value_changed(merged: &Value, app: &Value, users: &[&str], env: &Env) {
    for (k, v) in app.as_object().unwrap() {
        if k != "env" && merged.get(k).is_some() {
            assert_eq!(
                common::without_nulls(&merged[k]),
                common::without_nulls(v),
                "{k} changed"
            );
        }
    }
    assert_eq!(keys(&merged["env"]), keys(&app["env"]), "env order kept");
    for (k, v) in app["env"].as_object().unwrap() {
        if k != KEY {
            // Byte for byte: the same string, not just an equal value.
            assert_eq!(merged["env"][k].as_str(), v.as_str(), "{k}");
        }
    }
    let before = store_value(&app["env"]);
    let after = store_value(&merged["env"]);
    assert_eq!(keys(&after), keys(&before), "value's key order kept");
    for (name, entry) in before["users"].as_object().unwrap() {
        if !users.contains(&name.as_str()) {
            assert_eq!(&after["users"][name], entry, "user {name} kept exactly");
        }
    }
    let (ca_crt, _) = env.ca_files();
    assert_eq!(
        after["root-ca"],
        std::fs::read_to_string(ca_crt).unwrap().as_str()
    );
    for u in users {
        let (crt, _) = env.user_files(u);
        assert_eq!(
            after["users"][u]["cert"],
            std::fs::read_to_string(crt).unwrap().as_str()
        );
    }
}

/// Names in `pki: warning:` lines of stderr that mention `what`.
fn warned(stderr: &str, what: &str) -> Vec<String> {
    let mut names: Vec<String> = stderr
        .lines()
        .filter(|l| l.starts_with("pki: warning: ") && l.contains(what))
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// `pki export asp --user alice --merge FILE EXTRA...`.
fn merge_alice(env: &Env, file: &str, extra: &[&str]) -> common::Run {
    let mut args = vec!["export", "asp", "--user", "alice", "--merge", file];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn merge_of_a_get_answer_changes_only_the_value_validates_and_puts_back_unchanged() {
    let env = Env::with_users(&["alice", "bob"]);
    let other = Env::with_users(&["legacy"]);
    let answer = controller_answer(&env, &other);
    let app = answer["app"].clone();
    write(
        &env,
        "get.json",
        &serde_json::to_string_pretty(&answer).unwrap(),
    );

    let run = merge_alice(&env, "get.json", &[]);
    run.ok();
    assert_no_key(&run.stderr);
    let merged = run.json();
    // Unwrapped, the read-only fields gone (and said so), valid for Marathon.
    assert!(merged.get("app").is_none());
    assert_eq!(merged["id"], CTLR);
    for gone in [
        "version",
        "versionInfo",
        "tasksRunning",
        "tasks",
        "deployments",
    ] {
        assert!(merged.get(gone).is_none(), "{gone}");
    }
    assert!(
        run.stderr.contains("dropped") && run.stderr.contains("tasksRunning"),
        "{}",
        run.stderr
    );
    common::assert_app_valid("1.3.9", &merged);
    let kept: Vec<String> = keys(&app)
        .into_iter()
        .filter(|k| merged.get(k).is_some())
        .collect();
    assert_eq!(keys(&merged), kept, "top-level order kept");
    assert_only_the_value_changed(&merged, &app, &["alice"], &env);
    let value = store_value(&merged["env"]);
    assert_eq!(
        (value["host"].as_str(), value["port"].as_u64()),
        (Some("store.internal"), Some(18087))
    );
    assert_eq!(
        keys(&value["users"]),
        ["myUser", "bob", "legacy", "junk", "alice"]
    );
    // One warning for each kept user that would not log in.
    assert_eq!(warned(&run.stderr, "not a certificate"), ["junk", "myUser"]);
    assert_eq!(warned(&run.stderr, "does not chain"), ["legacy"]);

    // Marathon takes it back: PUT it to the test Marathon, which refuses what
    // Marathon refuses; afterwards the app is as before but for the env.
    let fake = Fake::start(Behaviour::with_apps(std::slice::from_ref(&app)));
    let fetched = fake.get_text(CTLR);
    let run = env.run_stdin(
        &["export", "asp", "--user", "alice", "--merge", "-"],
        &fetched,
    );
    let merged = run.ok().json();
    assert!(
        fake.put(CTLR, &merged),
        "the test Marathon accepts the merged app"
    );
    fake.assert_only_env_changed(CTLR, &app, &merged["env"]);
    // ... and refuses the answer as it was GET: the fake is strict.
    assert!(
        !fake.put(CTLR, &app),
        "the read-only fields must be refused"
    );

    // --store-host / --store-port replace what the app had.
    let run = merge_alice(
        &env,
        "get.json",
        &["--store-host", HOST, "--store-port", "8087"],
    );
    let value = store_value(&run.ok().json()["env"]);
    assert_eq!(
        (value["host"].as_str(), value["port"].as_u64()),
        (Some(HOST), Some(8087))
    );

    // Merging the vendor's example app (comments removed) works the same.
    let example = vendor::controller_example();
    write(&env, "example.json", &example.to_string());
    let run = merge_alice(&env, "example.json", &[]);
    let merged = run.ok().json();
    common::assert_app_valid("1.3.9", &merged);
    assert_only_the_value_changed(&merged, &example, &["alice"], &env);
    assert_eq!(warned(&run.stderr, "not a certificate"), ["myUser"]);
}

#[test]
fn merge_refuses_what_is_not_an_app_or_not_a_value_and_changes_nothing() {
    let env = Env::with_users(&["alice"]);
    let before = audit_text(&env);
    let app = |value: Value| json!({"id": CTLR, "env": {"OTHER": "x", KEY: value}}).to_string();
    let cases: Vec<(String, &str)> = vec![
        ("[]".into(), "not a Marathon app definition"),
        (
            json!({"id": "/g", "apps": []}).to_string(),
            "not a Marathon app definition",
        ),
        (
            json!({"env": {}}).to_string(),
            "not a Marathon app definition",
        ),
        ("{\"id\": ".into(), "is not JSON"),
        (
            vendor::text("f5-marathon-asp-ctlr-example.json"),
            "is not JSON",
        ),
        (app(json!("not json")), "not a JSON object in a string"),
        (app(json!("[1]")), "not a JSON object in a string"),
        (app(json!("{\"users\": [1]}")), "\"users\""),
        (app(json!({"secret": "s"})), "not a string"),
    ];
    for (text, want) in cases {
        write(&env, "app.json", &text);
        let r = merge_alice(&env, "app.json", &[]);
        r.code(2).one_line_error(&[want]);
        assert!(r.stdout.is_empty());
    }
    assert_eq!(audit_text(&env), before);
}

/// The controller as the test Marathon holds it: the vendor's GET answer's
/// app with another user (`legacy`, of another CA) in its value.
fn controller(other: &Env) -> Value {
    let mut app = vendor::controller_get_answer()["app"].clone();
    let mut value = store_value(&app["env"]);
    let (crt, key) = other.user_files("legacy");
    value["users"] = json!({"legacy": {
        "key": std::fs::read_to_string(key).unwrap(),
        "cert": std::fs::read_to_string(crt).unwrap()}});
    app["env"][KEY] = json!(value.to_string());
    app
}

fn deploy(env: &Env, fake: &Fake, extra: &[&str]) -> common::Run {
    let url = fake.url();
    let mut args = vec!["deploy", "asp", "--url", &url];
    args.extend_from_slice(extra);
    let run = env.run(&args);
    assert_no_key(&run.stderr);
    run
}

fn deploy_asp_puts_the_merged_value_and_loses_no_variable_or_user(backend: Backend) {
    let env = Env::with_users_on(backend, &["alice", "bob"]);
    let other = Env::with_users_on(backend, &["legacy"]);
    let app = controller(&other);
    let fake = Fake::start(Behaviour::with_apps(std::slice::from_ref(&app)));
    let run = deploy(&env, &fake, &["--user", "alice", "bob", "--json"]);
    run.ok();
    assert_no_key(&run.stdout);
    let doc: crate::support::docs::DeployDoc =
        serde_json::from_str(&run.stdout).expect("DeployDoc");
    assert_eq!(
        (
            doc.app_id.as_str(),
            doc.action.as_str(),
            doc.method.as_str()
        ),
        (CTLR, "update", "PUT")
    );
    assert_eq!(doc.users, ["alice", "bob"]);
    assert_eq!(doc.status, Some(200));
    assert_eq!(doc.deployment_id.as_deref(), Some(PUT_DEPLOYMENT));
    let others: Vec<String> = keys(&app["env"]).into_iter().filter(|k| k != KEY).collect();
    assert_eq!(doc.kept_env, others);
    assert_eq!(doc.kept_users, ["legacy"]);
    assert!(
        run.stderr.contains("does not chain") && run.stderr.contains("legacy"),
        "{}",
        run.stderr
    );

    assert_eq!(fake.methods(), ["GET", "PUT"]);
    let put = &fake.seen()[1];
    assert_eq!(put.target, format!("/v2/apps{CTLR}"));
    let body = put.json();
    assert_eq!(
        keys(&body),
        ["id", "env"],
        "the PUT carries the id and the whole env"
    );
    common::assert_app_valid("1.3.9", &body);
    let now = fake.app(CTLR).unwrap();
    assert_only_the_value_changed(&now, &app, &["alice", "bob"], &env);
    let mut want = app.clone();
    want["env"] = now["env"].clone();
    assert_eq!(now, want, "only the env changed");

    // Sent: recorded before (the attempt) and after (the outcome), per user.
    let log: Vec<_> = audit(&env)
        .into_iter()
        .filter(|(c, _, _)| c == "deploy asp")
        .map(|(_, e, u)| (e, u.unwrap_or_default()))
        .collect();
    let pair = |e: &str, u: &str| (e.to_string(), u.to_string());
    assert_eq!(
        log,
        [
            pair("key-sending", "alice"),
            pair("key-sending", "bob"),
            pair("key-deployed", "alice"),
            pair("key-deployed", "bob")
        ]
    );
}

#[test]
fn deploy_asp_conflicts_credentials_missing_apps_and_dry_runs_as_deploy_marathon() {
    // The app's other user is of this store: it chains, so no warning is due.
    let env = Env::with_users(&["alice", "legacy"]);
    let app = controller(&env);

    // 409: a deployment is running; --force supersedes it.
    let fake = Fake::start(Behaviour {
        busy: true,
        ..Behaviour::with_apps(std::slice::from_ref(&app))
    });
    deploy(&env, &fake, &["--user", "alice"])
        .code(4)
        .one_line_error(&[
            "deployment of /marathon-asp-ctlr is in progress",
            "409",
            "--force",
        ]);
    assert_eq!(fake.app(CTLR).unwrap(), app, "nothing changed");
    deploy(&env, &fake, &["--user", "alice", "--force"]).ok();
    assert_eq!(fake.seen()[3].target, format!("/v2/apps{CTLR}?force=true"));

    // 401 without the token, success with it.
    let fake = Fake::start(Behaviour {
        token: Some("tok.en".into()),
        ..Behaviour::with_apps(std::slice::from_ref(&app))
    });
    deploy(&env, &fake, &["--user", "alice"])
        .code(1)
        .one_line_error(&["401 Unauthorized", "--token-file"]);
    write(&env, "token", "tok.en\n");
    deploy(&env, &fake, &["--user", "alice", "--token-file", "token"]).ok();

    // 404: no controller app (or another --app-id).
    let fake = Fake::start(Behaviour::default());
    deploy(&env, &fake, &["--user", "alice"])
        .code(2)
        .one_line_error(&["has no app /marathon-asp-ctlr", "--app-id"]);
    let mut moved = app.clone();
    moved["id"] = json!("/asp/ctlr");
    let fake = Fake::start(Behaviour::with_apps(&[moved]));
    deploy(&env, &fake, &["--user", "alice", "--app-id", "/asp/ctlr"]).ok();
    assert_eq!(fake.seen()[1].target, "/v2/apps/asp/ctlr");

    // --dry-run: the PUT it would send, every user's key redacted; only the GET is sent.
    let fake = Fake::start(Behaviour::with_apps(std::slice::from_ref(&app)));
    let run = deploy(&env, &fake, &["--user", "alice", "--dry-run"]);
    run.ok();
    assert_no_key(&run.stdout);
    let (first, rest) = run.stdout.split_once('\n').unwrap();
    assert_eq!(first, format!("PUT {}/v2/apps{CTLR}", fake.url()));
    let body: Value = serde_json::from_str(rest).unwrap();
    let value = store_value(&body["env"]);
    assert_eq!(
        value["users"]["alice"]["key"],
        "<redacted: private key of alice>"
    );
    assert_eq!(
        value["users"]["legacy"]["key"],
        "<redacted: private key of legacy>"
    );
    assert!(value["users"]["alice"]["cert"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(fake.methods(), ["GET"], "a dry run only reads");
    let run = deploy(&env, &fake, &["--user", "alice", "--dry-run", "--json"]);
    assert_no_key(&run.ok().stdout);
    let doc: crate::support::docs::DeployDoc = serde_json::from_str(&run.stdout).unwrap();
    assert!(doc.dry_run && doc.status.is_none());
    assert_eq!(fake.app(CTLR).unwrap(), app);

    // Bad input is refused before any request.
    let fake = Fake::start(Behaviour::with_apps(std::slice::from_ref(&app)));
    for (args, want) in [
        (vec!["--user", "nobody"], "nobody"),
        (vec![], "--user"),
        (
            vec!["--user", "alice", "--app-id", "/Bad_Id"],
            "not a valid Marathon app id",
        ),
        (
            vec!["--user", "alice", "--store-port", "70000"],
            "--store-port",
        ),
    ] {
        let mut full = args.clone();
        full.insert(0, "--url");
        let url = fake.url();
        full.insert(1, &url);
        let mut cmd = vec!["deploy", "asp"];
        cmd.extend_from_slice(&full);
        env.run(&cmd).code(2).one_line_error(&[want]);
    }
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

fn during_a_ca_rollover_root_ca_is_the_trust_bundle_and_users_of_either_ca_are_good(
    backend: Backend,
) {
    let env = Env::with_users_on(backend, &["alice", "bob"]);
    let (old_ca, _) = env.ca_files();
    let (bob_old, bob_old_key) = env.user_files("bob");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let bob_old_entry = json!({"key": read(&bob_old_key), "cert": read(&bob_old)});
    env.run(&["rollover", "start"]).ok();
    // switch: the new CA signs, users re-issued (--force: no store app to deploy to here)
    env.run(&["rollover", "advance", "--force"]).ok();
    let (new_ca, _) = env.ca_files();
    assert_ne!(new_ca, old_ca);

    let run = env.run(&["export", "asp", "--user", "alice"]);
    let (_, inner) = parse_twice(&run.ok().stdout);
    let bundle = inner["root-ca"].as_str().unwrap();
    assert_eq!(
        bundle,
        format!("{}{}", read(&new_ca), read(&old_ca)),
        "current CA first"
    );
    let bundle_file = write(&env, "bundle.pem", bundle);
    let crt = write(
        &env,
        "alice.crt",
        inner["users"]["alice"]["cert"].as_str().unwrap(),
    );
    let (ok, said) = common::openssl_verify_client(&bundle_file, &crt);
    assert!(ok, "{said}");

    // A kept user still on the old CA can log in while it is trusted: no warning.
    let app =
        json!({"id": CTLR, "env": {KEY: json!({"users": {"bob": bob_old_entry}}).to_string()}});
    write(&env, "ctlr.json", &app.to_string());
    let run = merge_alice(&env, "ctlr.json", &[]);
    run.ok();
    assert!(!run.stderr.contains("pki: warning: user"), "{}", run.stderr);
    // Once the old CA is dropped, it cannot, and is warned about.
    env.run(&["rollover", "advance", "--force"]).ok(); // done
    let run = merge_alice(&env, "ctlr.json", &[]);
    assert_eq!(warned(&run.ok().stderr, "does not chain"), ["bob"]);
}

#[test]
fn the_vendors_controller_example_merges_as_the_vendor_writes_it() {
    let env = Env::with_users(&["alice"]);
    // The vendor's file with only its `//` comment lines removed: the value
    // still spans several lines, raw line breaks inside a JSON string.
    let raw = vendor::text("f5-marathon-asp-ctlr-example.json");
    let uncommented: String = raw
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        uncommented.contains(&format!("\"{KEY}\": \"{{\n")),
        "the example's value spans lines"
    );
    assert!(serde_json::from_str::<Value>(&uncommented).is_err());
    write(&env, "example.json", &uncommented);
    let run = merge_alice(&env, "example.json", &[]);
    run.ok();
    assert!(run.stderr.contains("line breaks"), "{}", run.stderr);
    let merged = run.json();
    common::assert_app_valid("1.3.9", &merged);
    assert_only_the_value_changed(&merged, &vendor::controller_example(), &["alice"], &env);
    assert_eq!(
        keys(&store_value(&merged["env"])["users"]),
        ["myUser", "alice"]
    );

    // With its comments the error says what to do, --format app among it.
    write(&env, "commented.json", &raw);
    let r = merge_alice(&env, "commented.json", &[]);
    r.code(2)
        .one_line_error(&["is not JSON", "// comments", "--format app"]);
    assert!(r.stdout.is_empty());

    // The app's own fields are not set by a merge: asking for it is refused,
    // not silently ignored.
    let before = audit_text(&env);
    for (target, flag, value) in [
        ("asp", "--image", "registry.local/ctlr:1.2"),
        ("asp", "--app-id", "/other"),
        ("asp", "--marathon-url", "http://m:8080"),
        ("asp", "--env", "A=1"),
        ("marathon", "--image", "registry.local/es:2.1"),
        ("marathon", "--app-id", "/other"),
    ] {
        let r = env.run(&[
            "export",
            target,
            "--user",
            "alice",
            "--merge",
            "example.json",
            flag,
            value,
        ]);
        r.code(2).one_line_error(&[flag, "--merge"]);
        assert!(r.stdout.is_empty());
    }
    assert_eq!(audit_text(&env), before);
}

/// The users of the value in an app's env, in order.
fn value_users(app: &Value) -> Vec<String> {
    keys(&store_value(&app["env"])["users"])
}

#[test]
fn merges_drop_revoked_and_superseded_users_remove_on_request_and_send_all_users() {
    let env = Env::with_users(&["alice", "bob", "carol"]);
    // erin is signed from a CSR: its key is not in the store.
    common::sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout erin.key -subj '/CN=erin' -out erin.csr 2>/dev/null",
    );
    env.run(&["sign", "--csr", "erin.csr"]).ok();
    let made = env.run(&[
        "export", "asp", "--user", "alice", "bob", "carol", "--format", "app",
    ]);
    let mut app = made.ok().json();
    // The operator added erin by hand.
    let mut value = store_value(&app["env"]);
    value["users"]["erin"] = json!({"key": "K", "cert": "C"});
    app["env"][KEY] = json!(value.to_string());
    write(&env, "ctlr.json", &app.to_string());
    assert_eq!(value_users(&app), ["alice", "bob", "carol", "erin"]);

    // bob is revoked; a CA rotation supersedes erin (no key to re-issue).
    env.run(&["revoke", "bob"]).ok();
    env.run(&["rotate", "--ca", "--force"]).ok();

    let run = merge_alice(&env, "ctlr.json", &[]);
    let merged = run.ok().json();
    assert_eq!(value_users(&merged), ["alice", "carol"]);
    assert_eq!(warned(&run.stderr, "was dropped"), ["bob", "erin"]);
    assert!(
        run.stderr.contains("revoked") && run.stderr.contains("superseded"),
        "{}",
        run.stderr
    );
    assert_no_key(&run.stderr);

    // --remove drops a user the store still has; naming one the value
    // lacks is said, not an error.
    let run = merge_alice(&env, "ctlr.json", &["--remove", "carol", "zed"]);
    assert_eq!(value_users(&run.ok().json()), ["alice"]);
    assert_eq!(warned(&run.stderr, "--remove"), ["zed"]);

    // --all-users: every user with a current certificate whose key the store holds.
    let run = env.run(&["export", "asp", "--all-users", "--merge", "ctlr.json"]);
    let merged = run.ok().json();
    assert_eq!(value_users(&merged), ["alice", "carol"]);
    assert_eq!(keys(&merged["env"]), keys(&app["env"]), "no variable lost");
    let (_, fresh) = parse_twice(&env.run(&["export", "asp", "--all-users"]).ok().stdout);
    assert_eq!(keys(&fresh["users"]), ["alice", "carol"]);

    // Only --remove: the value loses the user, nobody's key is set.
    let run = env.run(&[
        "export",
        "asp",
        "--remove",
        "bob",
        "erin",
        "--merge",
        "ctlr.json",
    ]);
    assert_eq!(value_users(&run.ok().json()), ["alice", "carol"]);

    let before = audit_text(&env);
    for (args, want) in [
        (vec!["--user", "alice", "--remove", "carol"], "--merge"),
        (
            vec![
                "--user",
                "alice",
                "--remove",
                "alice",
                "--merge",
                "ctlr.json",
            ],
            "both --user and --remove",
        ),
        (vec!["--all-users", "--user", "alice"], "--all-users"),
    ] {
        let mut full = vec!["export", "asp"];
        full.extend_from_slice(&args);
        let r = env.run(&full);
        r.code(2).one_line_error(&[want]);
        assert!(r.stdout.is_empty());
    }
    assert_eq!(audit_text(&env), before);
}

#[test]
fn deploy_asp_removes_and_drops_users_too() {
    let env = Env::with_users(&["alice", "bob"]);
    let other = Env::with_users(&["legacy"]);
    let mut app = controller(&other);
    let mut value = store_value(&app["env"]);
    let (crt, key) = env.user_files("bob");
    value["users"]["bob"] = json!({
        "key": std::fs::read_to_string(key).unwrap(),
        "cert": std::fs::read_to_string(crt).unwrap()});
    app["env"][KEY] = json!(value.to_string());
    env.run(&["revoke", "bob"]).ok();
    let fake = Fake::start(Behaviour::with_apps(std::slice::from_ref(&app)));
    let run = deploy(
        &env,
        &fake,
        &["--all-users", "--remove", "legacy", "--json"],
    );
    run.ok();
    let doc: pki::json::DeployDoc = serde_json::from_str(&run.stdout).expect("DeployDoc");
    assert_eq!(doc.users, ["alice"]);
    assert!(doc.kept_users.is_empty(), "{:?}", doc.kept_users);
    assert_eq!(warned(&run.stderr, "was dropped"), ["bob"]);
    let now = fake.app(CTLR).unwrap();
    assert_eq!(value_users(&now), ["alice"]);
}

crate::each_backend!(
    the_string_parses_twice_into_keys_certificates_and_the_root_ca_that_openssl_accepts,
    deploy_asp_puts_the_merged_value_and_loses_no_variable_or_user,
    during_a_ca_rollover_root_ca_is_the_trust_bundle_and_users_of_either_ca_are_good,
);
