//! `--by-reference` (docs/vault-by-reference.md): env references and a
//! `secrets` block instead of key material, the values published on the
//! store's Vault.
//!
//! Here: the refusals through the real binary (a directory store, a
//! Marathon before 1.4: exit 2, nothing read, published, sent or
//! changed); the apps the references make, against Marathon's own
//! schemas; the deploy flow against the fake Marathon, whose PUT must hold
//! no key; `pki vault policy`; and, through a real OpenBao (support/bao.rs),
//! the round trip: each reference resolves, through Vault's KV v2 API, to
//! the PEM the same export carries by value, and the printed policies are
//! enough for pki and let Marathon read the published values alone.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::bao::{call, Bao};
use crate::support::common::{self, Env};
use crate::support::docs;
use crate::support::fake_marathon::{Behaviour, Fake};

use pki::ca::key::Passphrase;
use pki::deliver::by_reference::{
    self as byref, asp_references, store_references, RefPayload, ASP, STORE,
};
use pki::deliver::deploy::{plan, send};
use pki::deliver::{asp, marathon, marathon_api};
use pki::store::publish::Published;
use pki::store::Store;
use pki::x509::keys::KeyFormat;

const APP: &str = "/ephemeral-store";
const NEEDS_VAULT: &str = "--by-reference needs a store on Vault (--store vault://MOUNT/PATH)";

fn at(name: &str) -> Published {
    Published {
        mount: "secret".into(),
        path: format!("pki/ephemeral-store/published/{name}"),
    }
}

/// The store's app as `GET` shows it, with an env and a secret of its own.
fn running_app() -> Value {
    json!({
        "id": APP,
        "instances": 5,
        "cpus": 1.0,
        "mem": 1024.0,
        "env": {
            "JAVA_OPTS": "-Xmx512m",
            "DB_PASSWORD": {"secret": "db-password"},
            "EPHEMERAL_STORE_ROOT_CA_KEY": "-----BEGIN RSA PRIVATE KEY-----\nold\n-----END RSA PRIVATE KEY-----\n"
        },
        "secrets": {"db-password": {"source": "/ephemeral-store/db@password"}},
        "container": {"type": "DOCKER", "docker": {"image": "f5networks/ephemeral-store:1.1.0", "network": "HOST"}},
        "version": "2017-10-02T18:56:43.319Z",
        "tasksRunning": 5
    })
}

/// Every `{"secret": NAME}` of `app`'s env names a declared secret whose
/// source is `/PATH/published/NAME@FIELD`; returns (variable, source).
#[track_caller]
fn references(app: &Value) -> Vec<(String, String)> {
    let env = app["env"].as_object().expect("env");
    env.iter()
        .filter_map(|(k, v)| v.get("secret").map(|s| (k, s.as_str().unwrap())))
        .map(|(k, name)| {
            let source = app["secrets"][name]["source"]
                .as_str()
                .unwrap_or_else(|| panic!("{k} refers to {name}, which is not declared: {app:#}"));
            (k.clone(), source.to_string())
        })
        .collect()
}

#[track_caller]
fn assert_no_key(text: &str) {
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("BEGIN"),
        "key material in:\n{text}"
    );
}

#[test]
fn a_directory_store_refuses_every_by_reference_command_and_nothing_changes_or_is_sent() {
    let env = Env::with_users(&["alice"]);
    let fake = Fake::start(Behaviour {
        version: Some("1.5.15".into()),
        ..Behaviour::with_apps(&[running_app()])
    });
    let url = fake.url();
    let before = env.snapshot(&env.store());
    let app = env.path("app.json");
    std::fs::write(&app, marathon::for_put(running_app()).0.to_string()).unwrap();
    let app = app.to_str().unwrap();
    for args in [
        &["export", "marathon", "--by-reference"][..],
        &["export", "marathon", "--by-reference", "--format", "app"],
        &["export", "marathon", "--by-reference", "--merge", app],
        &[
            "export",
            "marathon",
            "--by-reference",
            "--marathon-version",
            "1.5.15",
        ],
        &["export", "asp", "--by-reference", "--user", "alice"],
        &[
            "export",
            "asp",
            "--by-reference",
            "--all-users",
            "--format",
            "app",
        ],
        &["deploy", "marathon", "--by-reference", "--url", &url],
        &[
            "deploy",
            "marathon",
            "--by-reference",
            "--url",
            &url,
            "--dry-run",
        ],
        &[
            "deploy",
            "asp",
            "--by-reference",
            "--user",
            "alice",
            "--url",
            &url,
        ],
    ] {
        let r = env.run(args);
        r.code(2).one_line_error(&[NEEDS_VAULT]);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    // With --json: the error document, and still nothing else.
    let r = env.run(&["--json", "export", "marathon", "--by-reference"]);
    r.code(2);
    let doc: docs::ErrorDoc = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc.error.exit_code, 2);
    assert!(
        doc.error.message.starts_with(NEEDS_VAULT),
        "{}",
        doc.error.message
    );
    assert_eq!(env.snapshot(&env.store()), before, "the store changed");
    assert!(fake.seen().is_empty(), "sent: {:?}", fake.methods());
}

#[test]
fn a_marathon_before_1_4_is_refused_first_and_the_flags_need_each_other() {
    // No store at all: the version is refused before the store is looked at.
    let env = Env::new();
    for args in [
        &[
            "export",
            "marathon",
            "--by-reference",
            "--marathon-version",
            "1.3.9",
        ][..],
        &[
            "export",
            "asp",
            "--by-reference",
            "--user",
            "a",
            "--marathon-version",
            "1.3.9",
        ],
    ] {
        let r = env.run(args);
        r.code(2).one_line_error(&[
            "Marathon 1.3",
            "cannot take --by-reference",
            "1.4 and later",
        ]);
        assert!(r.stdout.is_empty());
    }
    assert!(!env.store().exists());
    env.run(&[
        "export",
        "marathon",
        "--by-reference",
        "--marathon-version",
        "x",
    ])
    .code(2)
    .one_line_error(&["is not a Marathon version"]);
    // --marathon-version is about references; --remove cannot go with them
    // (the published value holds exactly the users named).
    env.run(&["export", "marathon", "--marathon-version", "1.5.15"])
        .code(2);
    env.run(&["export", "asp", "--by-reference", "--remove", "bob"])
        .code(2);
    env.run(&[
        "deploy",
        "asp",
        "--url",
        "http://m",
        "--by-reference",
        "--remove",
        "bob",
    ])
    .code(2);
}

#[test]
fn the_apps_with_references_validate_against_marathons_schemas_and_hold_no_key() {
    let refs = store_references("myuser", &at(STORE));
    let mut app = marathon::app_definition(APP, marathon::DEFAULT_IMAGE, refs.env.clone());
    app["secrets"] = Value::Object(refs.secrets.clone());
    common::assert_app_valid("1.5.15", &app);
    // Marathon 1.3.9's schema takes the form too: pki's refusal of 1.3 is
    // its version floor (docs/vault-by-reference.md), not the schema's.
    common::assert_app_valid("1.3.9", &app);
    assert_no_key(&app.to_string());
    assert_eq!(
        references(&app),
        [
            (
                marathon::CA_CERT.to_string(),
                "/pki/ephemeral-store/published/store@root_ca_cert".to_string()
            ),
            (
                marathon::CA_KEY.to_string(),
                "/pki/ephemeral-store/published/store@root_ca_key".to_string()
            ),
        ]
    );
    assert_eq!(app["env"][marathon::ORCHESTRATION], "marathon");
    assert_eq!(app["env"][marathon::USER], marathon::user_json("myuser"));

    // Merged into a running app: its own variables and secrets stay.
    let (mut merged, _) = marathon::for_put(running_app());
    marathon::merge(&mut merged, refs.env.clone(), "app.json").unwrap();
    marathon::set_secrets(&mut merged, &refs.secrets, "app.json").unwrap();
    common::assert_app_valid("1.5.15", &merged);
    assert_no_key(&merged.to_string());
    assert_eq!(
        merged["env"]["DB_PASSWORD"],
        json!({"secret": "db-password"})
    );
    assert_eq!(
        merged["secrets"]["db-password"]["source"],
        "/ephemeral-store/db@password"
    );
    assert_eq!(references(&merged).len(), 3);

    // The controller: ASP_EPHEMERAL_STORE by reference in the vendor's app.
    let a = asp_references(&at(ASP));
    let mut ctlr = asp::app_definition(
        &asp::AppOptions {
            id: asp::DEFAULT_APP_ID,
            image: asp::DEFAULT_IMAGE,
            marathon_url: asp::DEFAULT_MARATHON_URL,
            env: &[],
        },
        "",
    );
    ctlr["env"][asp::ENV_KEY] = a.env[asp::ENV_KEY].clone();
    ctlr["secrets"] = Value::Object(a.secrets.clone());
    common::assert_app_valid("1.5.15", &ctlr);
    assert_eq!(
        references(&ctlr),
        [(
            asp::ENV_KEY.to_string(),
            "/pki/ephemeral-store/published/asp@asp_ephemeral_store".to_string()
        )]
    );
}

/// The Marathon client settings for the fake.
fn config(fake: &Fake) -> marathon_api::Config {
    let url = fake.url();
    marathon_api::config(
        &marathon_api::Settings {
            url: &url,
            token_file: None,
            credentials_file: None,
            ca_cert: None,
            timeout: Duration::from_secs(10),
        },
        APP,
    )
    .unwrap()
}

/// The deploy flow with references (the library's `plan` and `send`, as
/// `deploy marathon --by-reference` runs them after publishing), against
/// the fake Marathon: a 1.3 Marathon is asked its version and nothing
/// else; a 1.5 one gets a PUT with no key, its other variables and
/// secrets kept, and the same deploy again is unchanged until the CA
/// changes under the running tasks.
#[test]
fn deploy_by_reference_puts_no_key_and_refuses_marathon_1_3_after_asking_its_version() {
    let env = Env::with_users(&["myuser"]);
    let store = Store::new(env.store());
    let now = time::OffsetDateTime::now_utc();
    let recipe = byref::store_publication(KeyFormat::Native, false);
    let payload_for = |index: &pki::store::Index| {
        let out = byref::compute(
            &store,
            index,
            STORE,
            &recipe,
            &Passphrase::new(None),
            now,
            true,
        )
        .unwrap();
        assert_eq!(
            out.fields.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            [byref::ROOT_CA_CERT, byref::ROOT_CA_KEY]
        );
        assert!(out.fields[1].1.contains("PRIVATE KEY"));
        let payload = RefPayload::new(
            "deploy marathon",
            store_references("myuser", &at(STORE)),
            &out,
            &recipe,
            vec![("myuser".into(), None)],
            "the env of user myuser by reference".into(),
            None,
            None,
        );
        (out, payload)
    };
    let index = store.read_index().unwrap();
    let (out, payload) = payload_for(&index);

    let old = Fake::start(Behaviour::with_apps(&[running_app()]));
    let e = plan(config(&old), false, &payload)
        .err()
        .expect("Marathon 1.3.9 refused");
    assert_eq!(e.code(), 2, "{e}");
    assert!(e.to_string().contains("Marathon 1.3"), "{e}");
    let seen = old.seen();
    assert_eq!(
        seen.iter()
            .map(|s| (s.method.as_str(), s.target.as_str()))
            .collect::<Vec<_>>(),
        [("GET", "/v2/info")]
    );

    let fake = Fake::start(Behaviour {
        version: Some("1.5.15".into()),
        ..Behaviour::with_apps(&[running_app()])
    });
    let p = plan(config(&fake), false, &payload).unwrap();
    assert!(!p.unchanged);
    send(&store, false, now, &index, &p, &payload).unwrap();
    let put = fake.seen().pop().unwrap();
    assert_eq!(
        (put.method.as_str(), put.target.as_str()),
        ("PUT", "/v2/apps/ephemeral-store")
    );
    assert_no_key(&put.body);
    let body = put.json();
    common::assert_app_valid("1.5.15", &body);
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "env", "secrets"]
    );
    let held = fake.app(APP).unwrap();
    assert_no_key(&held["env"].to_string());
    assert_eq!(held["env"]["JAVA_OPTS"], "-Xmx512m");
    assert_eq!(references(&held).len(), 3, "{held:#}");
    // The audit log says it went by reference, under the CA it carried.
    let log = env.audit_log();
    let deployed = log
        .iter()
        .find(|e| e.event == "ca-key-deployed")
        .expect("a ca-key-deployed line");
    assert!(
        deployed
            .detail
            .as_deref()
            .unwrap()
            .contains("by reference to store (key format native)"),
        "{deployed:?}"
    );

    // Again: the app holds the references and its tasks launched with this CA.
    let p = plan(config(&fake), false, &payload).unwrap();
    assert!(p.unchanged);
    let cas = pki::deliver::deploy::trusted_serials(&index, now);
    assert!(byref::tasks_current(
        &log,
        "deploy marathon",
        APP,
        &cas,
        &out,
        &recipe
    ));
    // A new CA: the app is unchanged, but its tasks hold the old one.
    env.run(&["rotate", "--ca", "--force"]).ok();
    let index = store.read_index().unwrap();
    let (out, _) = payload_for(&index);
    let cas = pki::deliver::deploy::trusted_serials(&index, now);
    assert!(!byref::tasks_current(
        &env.audit_log(),
        "deploy marathon",
        APP,
        &cas,
        &out,
        &recipe
    ));
}

#[test]
fn vault_policy_grants_the_store_path_and_marathon_the_published_values_only() {
    let env = Env::new();
    let store = "vault://secret/pki/ephemeral-store";
    let r = env.run(&["vault", "policy", "--store", store]);
    r.ok();
    assert!(env.store().read_dir().is_err(), "no store is made");
    for (path, caps) in [
        (
            "secret/data/pki/ephemeral-store/*",
            r#"["create", "read", "update"]"#,
        ),
        ("secret/metadata/pki/ephemeral-store/*", r#"["list"]"#),
        ("secret/metadata/pki/ephemeral-store/lock", r#"["delete"]"#),
        (
            "secret/metadata/pki/ephemeral-store/docs/*",
            r#"["delete", "list"]"#,
        ),
        (
            "secret/metadata/pki/ephemeral-store/index/*",
            r#"["delete", "list"]"#,
        ),
    ] {
        let rule = format!("path \"{path}\" {{\n  capabilities = {caps}\n}}\n");
        assert!(r.stdout.contains(&rule), "{rule}\nnot in:\n{}", r.stdout);
    }
    let r = env.run(&[
        "--json", "vault", "policy", "--store", store, "--for", "marathon",
    ]);
    r.ok();
    let doc: docs::VaultPolicyDoc = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (doc.version, doc.store.as_str(), doc.for_.as_str()),
        (1, store, "marathon")
    );
    assert_eq!(
        doc.rules,
        [docs::PolicyRule {
            path: "secret/data/pki/ephemeral-store/published/*".into(),
            capabilities: vec!["read".into()],
        }]
    );
    assert!(doc
        .policy
        .contains("path \"secret/data/pki/ephemeral-store/published/*\""));
    // PKI_STORE names the store as --store does; a directory is refused.
    let mut with_var = Env::new();
    with_var.var("PKI_STORE", store);
    with_var.run(&["vault", "policy"]).ok();
    env.run(&["vault", "policy", "--store", "./pki"])
        .code(2)
        .one_line_error(&["is a directory", "vault://MOUNT/PATH"]);
    env.run(&["vault", "policy", "--store", "vault://secret/a/*"])
        .code(2);
}

// ---- through a real Vault (the shared OpenBao dev server of support/bao.rs) ----

/// A scratch env whose store is a fresh path on `bao` (root token), with a
/// CA and `users`.
fn on_vault(bao: &Bao, users: &[&str]) -> (Env, String) {
    let mut env = Env::new();
    let address = bao.fresh_prefix();
    env.var("PKI_STORE", &address);
    for (k, v) in bao.env() {
        env.var(&k, &v);
    }
    env.run(&["init"]).ok();
    if !users.is_empty() {
        let mut args = vec!["issue"];
        args.extend_from_slice(users);
        env.run(&args).ok();
    }
    (env, address)
}

/// The store's path under the `secret` mount, from its address.
fn store_path(address: &str) -> String {
    address
        .strip_prefix("vault://secret/")
        .expect("a store on the secret mount")
        .to_string()
}

/// What a secret's `source` (`/PATH@FIELD`) resolves to through Vault's KV
/// version 2 API, read with `token`, as a secrets plugin reads it; None
/// when Vault refuses or has nothing there.
fn resolve(bao: &Bao, token: &str, source: &str) -> Option<String> {
    let (path, field) = source.trim_start_matches('/').split_once('@').unwrap();
    let agent = pki::net::agent(None, Duration::from_secs(30), None);
    let (status, v) = call(
        &agent,
        &bao.addr,
        Some(token),
        "GET",
        &format!("secret/data/{path}"),
        None,
    )
    .unwrap();
    (status == 200).then(|| v["data"]["data"][field].as_str().unwrap().to_string())
}

/// The events of the store's audit log, in order (through `pki audit show`).
fn events(env: &Env) -> Vec<(String, String)> {
    let r = env.run(&["--json", "audit", "show"]);
    r.ok();
    r.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["command"].as_str().unwrap().to_string(),
                e["event"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn each_reference_resolves_through_vault_to_the_pem_pki_holds() {
    let Some(bao) = Bao::shared() else { return };
    let (env, address) = on_vault(bao, &["myuser", "bob"]);
    let r = env.run(&[
        "--json",
        "export",
        "marathon",
        "--by-reference",
        "--format",
        "app",
        "--user",
        "myuser",
    ]);
    r.ok();
    assert_no_key(&r.stdout);
    assert_no_key(&r.stderr);
    let doc: docs::ExportByReferenceDoc = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc.version, 1);
    let path = store_path(&address);
    assert_eq!(
        doc.published,
        [docs::PublishedDoc {
            name: "store".into(),
            mount: "secret".into(),
            path: format!("{path}/published/store"),
            fields: vec!["root_ca_cert".into(), "root_ca_key".into()],
        }]
    );
    let app = doc.document;
    common::assert_app_valid("1.5.15", &app);
    // What the same export carries by value, variable for variable.
    let by_value = env.run(&["export", "marathon", "--user", "myuser"]);
    by_value.ok();
    let by_value = by_value.json();
    let refs = references(&app);
    assert_eq!(refs.len(), 2);
    for (var, source) in &refs {
        assert!(
            source.starts_with(&format!("/{path}/published/store@")),
            "{source}"
        );
        let value = resolve(bao, &bao.root_token, source).expect("published");
        assert_eq!(value, by_value[var].as_str().unwrap(), "{var}");
    }
    assert!(by_value[marathon::CA_KEY]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));

    // The controller: the value it would carry, users and all.
    let r = env.run(&[
        "export",
        "asp",
        "--by-reference",
        "--user",
        "myuser",
        "bob",
        "--format",
        "app",
    ]);
    r.ok();
    assert_no_key(&r.stdout);
    let ctlr = r.json();
    common::assert_app_valid("1.5.15", &ctlr);
    let [(var, source)] = references(&ctlr).try_into().unwrap();
    assert_eq!(var, asp::ENV_KEY);
    let published: Value =
        serde_json::from_str(&resolve(bao, &bao.root_token, &source).unwrap()).unwrap();
    let by_value = env.run(&["export", "asp", "--user", "myuser", "bob"]);
    by_value.ok();
    let by_value: Value =
        serde_json::from_str(by_value.json()[asp::ENV_KEY].as_str().unwrap()).unwrap();
    assert_eq!(published, by_value);

    // Each publish recorded before it was written, after its recipe.
    let ev = events(&env);
    let at = |e: (&str, &str)| ev.iter().position(|(c, k)| (c.as_str(), k.as_str()) == e);
    let recipe = at(("export marathon", "config-changed")).expect("recipe recorded");
    let published = at(("export marathon", "ca-key-published")).expect("publish recorded");
    assert!(recipe < published, "{ev:?}");
    assert_eq!(
        ev.iter()
            .filter(|(c, k)| c == "export asp" && k == "key-published")
            .count(),
        2,
        "{ev:?}"
    );
    env.run(&["audit", "verify"]).ok();
}

#[test]
fn deploy_by_reference_on_vault_sends_no_key_and_restarts_only_for_a_new_ca() {
    let Some(bao) = Bao::shared() else { return };
    let (env, address) = on_vault(bao, &["myuser"]);
    let fake = Fake::start(Behaviour {
        version: Some("1.5.15".into()),
        ..Behaviour::with_apps(&[running_app()])
    });
    let url = fake.url();
    let deploy = || {
        let r = env.run(&[
            "--json",
            "deploy",
            "marathon",
            "--url",
            &url,
            "--by-reference",
        ]);
        r.ok();
        assert_no_key(&r.stdout);
        assert_no_key(&r.stderr);
        serde_json::from_str::<docs::DeployDoc>(&r.stdout).unwrap()
    };
    let ca_key = |env: &Env| {
        let r = env.run(&["export", "marathon"]);
        r.ok();
        r.json()[marathon::CA_KEY].as_str().unwrap().to_string()
    };
    let doc = deploy();
    assert_eq!((doc.status, doc.unchanged), (Some(200), false));
    assert_eq!(
        doc.published[0].path,
        format!("{}/published/store", store_path(&address))
    );
    let put = fake.seen().pop().unwrap();
    assert_eq!(put.method, "PUT");
    assert_no_key(&put.body);
    common::assert_app_valid("1.5.15", &put.json());
    let held = fake.app(APP).unwrap();
    let key_source = &held["secrets"]["pki-root-ca-key"]["source"];
    let resolved = resolve(bao, &bao.root_token, key_source.as_str().unwrap());
    assert_eq!(resolved.as_deref(), Some(ca_key(&env).as_str()));
    assert_eq!(
        held["secrets"]["db-password"],
        running_app()["secrets"]["db-password"]
    );

    // Again: the app and its tasks hold this CA: nothing sent.
    let before = fake.seen().len();
    assert!(deploy().unchanged);
    assert!(fake.seen()[before..].iter().all(|s| s.method == "GET"));

    // A new CA: the app's references are the same, but its tasks launched
    // with the old CA, so the PUT restarts them, and the reference now
    // resolves to the new key.
    env.run(&["rotate", "--ca", "--force"]).ok();
    let doc = deploy();
    assert_eq!((doc.status, doc.unchanged), (Some(200), false));
    let resolved = resolve(bao, &bao.root_token, key_source.as_str().unwrap());
    assert_eq!(resolved.as_deref(), Some(ca_key(&env).as_str()));
    env.run(&["audit", "verify"]).ok();
}

#[test]
fn deploy_by_reference_to_marathon_1_3_sends_and_publishes_nothing() {
    let Some(bao) = Bao::shared() else { return };
    let (env, address) = on_vault(bao, &["myuser"]);
    let fake = Fake::start(Behaviour::with_apps(&[running_app()]));
    let r = env.run(&["deploy", "marathon", "--url", &fake.url(), "--by-reference"]);
    r.code(2).one_line_error(&[
        "Marathon 1.3",
        "GET ",
        "/v2/info",
        "cannot take --by-reference",
    ]);
    assert_eq!(fake.methods(), ["GET"]);
    assert_eq!(fake.seen()[0].target, "/v2/info");
    let source = format!("/{}/published/store@root_ca_key", store_path(&address));
    assert_eq!(resolve(bao, &bao.root_token, &source), None, "published");
    assert!(
        !events(&env).iter().any(|(c, _)| c == "deploy marathon"),
        "recorded"
    );
}

#[test]
fn the_printed_policies_are_enough_for_pki_and_marathon_reads_only_the_published_values() {
    let Some(bao) = Bao::shared() else { return };
    let address = bao.fresh_prefix();
    let policy = |whom: &str| {
        let r = Env::new().run(&["vault", "policy", "--store", &address, "--for", whom]);
        r.ok();
        r.stdout
    };
    let mut env = Env::new();
    env.var("PKI_STORE", &address);
    env.var("VAULT_ADDR", &bao.addr);
    env.var("VAULT_TOKEN", &bao.token_with_policy(&policy("pki")));
    // Every kind of write pki makes: the store, users, a rotation with a
    // pending hook (written, run, removed), a revocation, a CRL, the lock
    // taken and released each time, and a publish.
    env.run(&["init"]).ok();
    env.run(&["issue", "alice", "bob"]).ok();
    env.run(&["verify"]).ok();
    env.run(&["rotate", "--force", "alice", "--on-change", "true"])
        .ok();
    env.run(&["revoke", "bob"]).ok();
    env.run(&["crl"]).ok();
    env.run(&["export", "marathon", "--by-reference", "--user", "alice"])
        .ok();
    env.run(&["list"]).ok();
    env.run(&["audit", "verify"]).ok();

    let marathon = bao.token_with_policy(&policy("marathon"));
    let source = format!("/{}/published/store@root_ca_key", store_path(&address));
    let key = resolve(bao, &marathon, &source).expect("Marathon's token reads the published key");
    assert!(key.contains("PRIVATE KEY"));
    let state = format!("/{}/state@index", store_path(&address));
    assert_eq!(
        resolve(bao, &marathon, &state),
        None,
        "Marathon's token read the store"
    );
    let mut as_marathon = Env::new();
    as_marathon.vars = env.vars.clone();
    as_marathon.var("VAULT_TOKEN", &marathon);
    as_marathon.run(&["list"]).code(2);
}

#[test]
fn deploy_asp_by_reference_on_vault_replaces_the_value_and_names_the_users_it_drops() {
    let Some(bao) = Bao::shared() else { return };
    let (env, _) = on_vault(bao, &["alice", "bob"]);
    // The controller as the vendor deploys it, holding "legacy" by value.
    let held = r#"{"host":"ephemeral-store.marathon.l4lb.thisdcos.directory","port":8087,"users":{"legacy":{"key":"-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n","cert":"c"}},"root-ca":"r"}"#;
    let ctlr = asp::app_definition(
        &asp::AppOptions {
            id: asp::DEFAULT_APP_ID,
            image: asp::DEFAULT_IMAGE,
            marathon_url: asp::DEFAULT_MARATHON_URL,
            env: &[],
        },
        held,
    );
    let fake = Fake::start(Behaviour {
        version: Some("1.5.15".into()),
        ..Behaviour::with_apps(&[ctlr])
    });
    let url = fake.url();
    let r = env.run(&[
        "deploy",
        "asp",
        "--url",
        &url,
        "--by-reference",
        "--user",
        "alice",
        "bob",
    ]);
    r.ok();
    assert!(
        r.stderr.contains("held \"legacy\" by value"),
        "{}",
        r.stderr
    );
    let put = fake.seen().pop().unwrap();
    assert_eq!(put.method, "PUT");
    assert_no_key(&put.body);
    common::assert_app_valid("1.5.15", &put.json());
    let app = fake.app(asp::DEFAULT_APP_ID).unwrap();
    let [(var, source)] = references(&app).try_into().unwrap();
    assert_eq!(var, asp::ENV_KEY);
    assert_eq!(
        app["env"]["ASP_ENABLE_LABEL"], "f5-asp",
        "the other variables stay"
    );
    let published: Value =
        serde_json::from_str(&resolve(bao, &bao.root_token, &source).unwrap()).unwrap();
    let by_value = env.run(&["export", "asp", "--user", "alice", "bob"]);
    by_value.ok();
    let by_value: Value =
        serde_json::from_str(by_value.json()[asp::ENV_KEY].as_str().unwrap()).unwrap();
    assert_eq!(published, by_value);
    // Another store address than the app's, by value, is refused: nothing sent.
    let fake = Fake::start(Behaviour {
        version: Some("1.5.15".into()),
        ..Behaviour::with_apps(&[asp::app_definition(
            &asp::AppOptions {
                id: asp::DEFAULT_APP_ID,
                image: asp::DEFAULT_IMAGE,
                marathon_url: asp::DEFAULT_MARATHON_URL,
                env: &[],
            },
            r#"{"host":"10.0.0.5","port":8087,"users":{}}"#,
        )])
    });
    let url = fake.url();
    env.run(&[
        "deploy",
        "asp",
        "--url",
        &url,
        "--by-reference",
        "--user",
        "alice",
    ])
    .code(2)
    .one_line_error(&["has the store at 10.0.0.5:8087", "--store-host 10.0.0.5"]);
    assert!(fake.methods().iter().all(|m| m == "GET"));
}

#[test]
fn a_rotation_publishes_the_recorded_values_again() {
    let Some(bao) = Bao::shared() else { return };
    let (env, address) = on_vault(bao, &["alice", "bob"]);
    env.run(&["export", "marathon", "--by-reference", "--user", "alice"])
        .ok();
    env.run(&["export", "asp", "--by-reference", "--user", "alice", "bob"])
        .ok();
    let path = store_path(&address);
    let key = || {
        resolve(
            bao,
            &bao.root_token,
            &format!("/{path}/published/store@root_ca_key"),
        )
    };
    let ctlr = || {
        let v = resolve(
            bao,
            &bao.root_token,
            &format!("/{path}/published/asp@asp_ephemeral_store"),
        );
        serde_json::from_str::<Value>(&v.unwrap()).unwrap()
    };
    let (key_before, ctlr_before) = (key(), ctlr());
    env.run(&["rotate", "--ca", "--force"]).ok();
    env.run(&["rotate", "--force", "alice"]).ok();
    env.run(&["revoke", "bob"]).ok();
    // The revocation itself publishes the controller's value without bob.
    let users = ctlr()["users"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(users, ["alice"]);
    env.run(&["rotate", "--force", "alice"]).ok();
    let by_value = env.run(&["export", "marathon", "--user", "alice"]);
    by_value.ok();
    assert_ne!(key(), key_before);
    assert_eq!(key().as_deref(), by_value.json()[marathon::CA_KEY].as_str());
    let now = ctlr();
    assert_ne!(now, ctlr_before);
    // bob, revoked, is left out; alice carries her current certificate.
    let by_value = env.run(&["export", "asp", "--user", "alice"]);
    by_value.ok();
    let by_value: Value =
        serde_json::from_str(by_value.json()[asp::ENV_KEY].as_str().unwrap()).unwrap();
    assert_eq!(now, by_value);
    let ev = events(&env);
    assert!(
        ev.iter()
            .any(|(c, e)| c == "rotate" && e == "ca-key-published"),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|(c, e)| c == "rotate" && e == "key-published"),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|(c, e)| c == "revoke" && e == "key-published"),
        "{ev:?}"
    );
    env.run(&["audit", "verify"]).ok();
}

#[test]
fn a_rollover_start_publishes_both_cas_for_the_apps_to_trust() {
    let Some(bao) = Bao::shared() else { return };
    let (env, address) = on_vault(bao, &["alice"]);
    env.run(&["export", "marathon", "--by-reference"]).ok();
    let source = format!("/{}/published/store@root_ca_cert", store_path(&address));
    let certs = || {
        resolve(bao, &bao.root_token, &source)
            .unwrap()
            .matches("-----BEGIN CERTIFICATE-----")
            .count()
    };
    assert_eq!(certs(), 1);
    env.run(&["rollover", "start"]).ok();
    assert_eq!(certs(), 2, "the trust bundle of the rollover");
    let by_value = env.run(&["export", "marathon"]);
    by_value.ok();
    assert_eq!(
        resolve(bao, &bao.root_token, &source).as_deref(),
        by_value.json()[marathon::CA_CERT].as_str()
    );
    assert!(events(&env)
        .iter()
        .any(|(c, e)| c == "rollover start" && e == "ca-key-published"));
}
