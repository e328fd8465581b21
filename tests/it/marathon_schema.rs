//! `export marathon --format app` and `--merge` against Marathon's own
//! AppDefinition JSON Schema (read from ../shared, never copied here).
//! The schema files are draft 4 although their `$schema` names no draft,
//! so the validator's draft is chosen explicitly.
//!
//! The tests listed in `each_backend!` at the end run once on a directory
//! store and once on a store in OpenBao (support/backend.rs).

use crate::support::common;
use crate::support::fake_marathon;
use crate::support::vendor;

use common::{Backend, Env};
use serde_json::Value;

fn validator(version: &str) -> jsonschema::Validator {
    common::marathon_schema(version)
}

#[track_caller]
fn assert_valid(app: &Value) {
    for version in ["1.3.9", "1.5.15"] {
        common::assert_app_valid(version, app);
    }
}

#[test]
fn the_schema_really_rejects_bad_apps() {
    // Guard against a validator that accepts everything.
    let v = validator("1.3.9");
    for bad in [
        serde_json::json!({"id": "/ephemeral-store", "env": {"N": 5}}),
        serde_json::json!({"id": "/ephemeral-store", "env": {"B": true}}),
        serde_json::json!({"id": "/Bad_Id"}),
        serde_json::json!({"id": "/ephemeral-store", "unknownField": 1}),
    ] {
        assert!(!v.is_valid(&bad), "accepted {bad}");
    }
    assert!(v.is_valid(&serde_json::json!({"id": "/ephemeral-store", "env": {"A": "x", "S": {"secret": "s"}}, "cmd": "x"})));
}

fn app_format_is_the_seed_documents_app_and_valid(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser"]);
    let app = env.run(&["export", "marathon", "--format", "app"]).json();
    assert_valid(&app);
    assert_eq!(app["id"], "/ephemeral-store");
    assert_eq!(app["instances"], 5);
    assert_eq!(app["cpus"], 1);
    assert_eq!(app["mem"], 1024);
    assert_eq!(app["container"]["type"], "DOCKER");
    assert_eq!(
        app["container"]["docker"]["image"],
        "f5networks/ephemeral-store:latest"
    );
    assert_eq!(app["container"]["docker"]["network"], "HOST");
    assert_eq!(app["container"]["docker"]["forcePullImage"], true);
    assert_eq!(app["requirePorts"], true);
    let ports: Vec<(u64, &str)> = app["portDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_u64().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    assert_eq!(ports, [(8087, "proto"), (4369, "epmd"), (8099, "handoff")]);
    assert_eq!(
        app["portDefinitions"][0]["labels"]["VIP_0"],
        "ephemeral-store:8087"
    );
    let exported = env.run(&["export", "marathon"]).json();
    assert_eq!(app["env"], exported);

    let custom = env
        .run(&[
            "export",
            "marathon",
            "--format",
            "app",
            "--image",
            "registry.local/es:2.1",
            "--app-id",
            "/team/es",
        ])
        .json();
    assert_valid(&custom);
    assert_eq!(
        custom["container"]["docker"]["image"],
        "registry.local/es:2.1"
    );
    assert_eq!(custom["id"], "/team/es");
}

#[test]
fn merge_sets_only_the_env_keys_and_keeps_order_and_validity() {
    let env = Env::with_users(&["myuser"]);
    // The seed document's GET response, trimmed to what a user POSTs.
    let original = r#"{
  "id": "/ephemeral-store",
  "env": {
    "ORCHESTRATION": "marathon",
    "OTHER": "kept",
    "EPHEMERAL_STORE_USER": "{ \"name\" : \"old\", \"auth_mode\" : \"certificate\" }",
    "EPHEMERAL_STORE_ROOT_CA_CERT": "old",
    "EPHEMERAL_STORE_ROOT_CA_KEY": "old",
    "SECRET_REF": { "secret": "s1" }
  },
  "instances": 5,
  "cpus": 1,
  "mem": 1024,
  "secrets": { "s1": { "source": "vault/x" } },
  "container": { "type": "DOCKER", "volumes": [], "docker": { "image": "f5networks/ephemeral-store:1.1", "network": "HOST", "forcePullImage": true } },
  "backoffFactor": 1.15,
  "labels": { "team": "asp" }
}"#;
    std::fs::write(env.path("app.json"), original).unwrap();
    let r = env.run(&["export", "marathon", "--merge", "app.json"]);
    r.ok();
    let merged = r.json();
    assert_valid(&merged);
    let before: Value = serde_json::from_str(original).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&merged), keys(&before), "top-level order kept");
    assert_eq!(keys(&merged["env"]), keys(&before["env"]), "env order kept");
    for k in keys(&before) {
        if k != "env" {
            assert_eq!(merged[&k], before[&k], "{k} changed");
        }
    }
    assert_eq!(merged["env"]["OTHER"], "kept");
    assert_eq!(merged["env"]["SECRET_REF"], before["env"]["SECRET_REF"]);
    let fresh = env.run(&["export", "marathon"]).json();
    for k in [
        "ORCHESTRATION",
        "EPHEMERAL_STORE_USER",
        "EPHEMERAL_STORE_ROOT_CA_CERT",
        "EPHEMERAL_STORE_ROOT_CA_KEY",
    ] {
        assert_eq!(merged["env"][k], fresh[k], "{k}");
    }
    // The input file itself is not modified.
    assert_eq!(
        std::fs::read_to_string(env.path("app.json")).unwrap(),
        original
    );

    // The GET /v2/apps/ID response shape ({"app": {...}}) is accepted and
    // unwrapped (issue 14: the output is what a PUT takes), and stdin works.
    let wrapped = format!("{{\"app\": {original}}}");
    let r = env.run_stdin(&["export", "marathon", "--merge", "-"], &wrapped);
    r.ok();
    assert_eq!(r.json(), merged);

    // An app with no env gets one.
    std::fs::write(
        env.path("bare.json"),
        r#"{"id": "/ephemeral-store", "instances": 5}"#,
    )
    .unwrap();
    let bare = env
        .run(&["export", "marathon", "--merge", "bare.json"])
        .json();
    assert_valid(&bare);
    assert_eq!(keys(&bare), ["id", "instances", "env"]);
}

fn env_values_are_strings_that_round_trip_the_pem(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser"]);
    let block = env.run(&["export", "marathon"]).json();
    let (ca_crt, ca_key) = env.ca_files();
    assert!(block.as_object().unwrap().values().all(Value::is_string));
    assert_eq!(
        block["EPHEMERAL_STORE_ROOT_CA_CERT"]
            .as_str()
            .unwrap()
            .as_bytes(),
        std::fs::read(ca_crt).unwrap()
    );
    assert_eq!(
        block["EPHEMERAL_STORE_ROOT_CA_KEY"]
            .as_str()
            .unwrap()
            .as_bytes(),
        std::fs::read(ca_key).unwrap()
    );
    let user: Value =
        serde_json::from_str(block["EPHEMERAL_STORE_USER"].as_str().unwrap()).unwrap();
    assert_eq!(
        user,
        serde_json::json!({"name": "myuser", "auth_mode": "certificate"})
    );
}

/// A store app as the test Marathon's `GET /v2/apps/ephemeral-store`
/// answers it: the fields and read-only fields of the vendor's own GET
/// example (../shared/vendor), with the store's id and an env of its own.
fn running_store_app() -> Value {
    let mut app = vendor::controller_get_answer()["app"].clone();
    app["id"] = serde_json::json!("/ephemeral-store");
    app["env"] =
        serde_json::json!({"JAVA_OPTS": "-Xmx512m", "ORCHESTRATION": "old", "S": {"secret": "s"}});
    app["secrets"] = serde_json::json!({"s": {"source": "vault/s"}});
    app
}

#[test]
fn merge_of_a_get_answer_puts_back_to_marathon_unchanged_but_for_the_env() {
    let env = Env::with_users(&["myuser"]);
    let app = running_store_app();
    let fake = fake_marathon::Fake::start(fake_marathon::Behaviour::with_apps(
        std::slice::from_ref(&app),
    ));
    // As the GET answered it, Marathon refuses it back (read-only fields, nulls).
    let answer = fake.get_text("/ephemeral-store");
    let as_got: Value = serde_json::from_str(&answer).unwrap();
    assert!(!fake.put("/ephemeral-store", &as_got["app"]));

    let r = env.run_stdin(&["export", "marathon", "--merge", "-"], &answer);
    r.ok();
    for said in ["dropped", "version", "tasksRunning", "cmd (null)"] {
        assert!(r.stderr.contains(said), "{said}: {}", r.stderr);
    }
    let merged = r.json();
    assert!(merged.get("app").is_none(), "unwrapped");
    // The schema of the Marathon that answered (1.5 has no storeUrls).
    common::assert_app_valid("1.3.9", &merged);
    let fresh = env.run(&["export", "marathon"]).json();
    for (k, v) in fresh.as_object().unwrap() {
        assert_eq!(&merged["env"][k], v, "{k}");
    }
    assert_eq!(merged["env"]["JAVA_OPTS"], "-Xmx512m");
    assert_eq!(merged["env"]["S"], serde_json::json!({"secret": "s"}));

    assert!(
        fake.put("/ephemeral-store", &merged),
        "the test Marathon takes the merged app"
    );
    fake.assert_only_env_changed("/ephemeral-store", &app, &merged["env"]);
}

crate::each_backend!(
    app_format_is_the_seed_documents_app_and_valid,
    env_values_are_strings_that_round_trip_the_pem,
);
