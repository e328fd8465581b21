//! `pki deploy marathon` against the fake Marathon of `fake_marathon`
//! (Marathon 1.3's `/v2/apps`: PUT replaces `env` as a whole map, and it
//! answers 200/201/401/403/404/409/422 as Marathon does).
//!
//! The tests listed in `each_backend!` at the end run once on a directory
//! store and once on a store in OpenBao (support/backend.rs).

use crate::support::common;
use crate::support::fake_marathon;

use std::net::TcpListener;
use std::sync::Arc;

use common::{Backend, Env};
use fake_marathon::{private_tls, Behaviour, Fake, POST_DEPLOYMENT, PUT_DEPLOYMENT, PUT_VERSION};
use serde_json::{json, Value};

const APP: &str = "/ephemeral-store";

/// A Marathon that runs [`running_app`].
fn running() -> Behaviour {
    Behaviour::with_apps(&[running_app()])
}

/// An app as `GET /v2/apps/ephemeral-store` shows it, env holding other variables.
fn running_app() -> Value {
    json!({
        "id": APP,
        "instances": 5,
        "cpus": 1.0,
        "mem": 1024.0,
        "env": {
            "JAVA_OPTS": "-Xmx512m",
            "EPHEMERAL_STORE_USER": "{ \"name\" : \"old\", \"auth_mode\" : \"certificate\" }",
            "DB_PASSWORD": {"secret": "db-password"},
            "LOG_LEVEL": "debug"
        },
        "secrets": {"db-password": {"source": "/ephemeral-store/db"}},
        "container": {"type": "DOCKER", "docker": {"image": "f5networks/ephemeral-store:1.1.0", "network": "HOST"}},
        "version": "2017-10-02T18:56:43.319Z",
        "tasksRunning": 5
    })
}

fn store() -> Env {
    store_on(Backend::Dir)
}

fn store_on(backend: Backend) -> Env {
    Env::with_users_on(backend, &["myuser"])
}

fn deploy(env: &Env, fake: &Fake, extra: &[&str]) -> common::Run {
    let url = fake.url();
    let mut args = vec!["deploy", "marathon", "--url", &url];
    args.extend_from_slice(extra);
    let run = env.run(&args);
    assert_no_key(&run.stderr);
    run
}

#[track_caller]
fn assert_no_key(text: &str) {
    assert!(
        !text.contains("PRIVATE KEY"),
        "key material printed:\n{text}"
    );
}

fn update_sets_the_four_keys_and_loses_no_other_variable(backend: Backend) {
    let env = store_on(backend);
    let fake = Fake::start(running());
    let run = deploy(&env, &fake, &["--json"]);
    run.ok();

    let doc: crate::support::docs::DeployDoc =
        serde_json::from_str(&run.stdout).expect("DeployDoc");
    assert_eq!(doc.version, 1);
    assert!(!doc.dry_run);
    assert_eq!(
        (doc.app_id.as_str(), doc.user.as_str(), doc.action.as_str()),
        (APP, "myuser", "update")
    );
    assert_eq!(doc.method, "PUT");
    assert_eq!(doc.status, Some(200));
    assert_eq!(doc.deployment_id.as_deref(), Some(PUT_DEPLOYMENT));
    assert_eq!(doc.app_version.as_deref(), Some(PUT_VERSION));
    assert_eq!(doc.kept_env, ["JAVA_OPTS", "DB_PASSWORD", "LOG_LEVEL"]);
    assert!(doc.body.is_none());
    assert!(
        run.stderr.contains(PUT_DEPLOYMENT) && run.stderr.contains(PUT_VERSION),
        "{}",
        run.stderr
    );
    assert_no_key(&run.stdout);

    assert_eq!(fake.methods(), ["GET", "PUT"]);
    let put = &fake.seen()[1];
    assert_eq!(put.target, format!("/v2/apps{APP}"));
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert!(put.header("authorization").is_none());
    let body = put.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["id", "env"],
        "the PUT carries the id and the whole env, nothing else"
    );

    // What Marathon now holds: every variable it had, the four keys set.
    let app = fake.app(APP).unwrap();
    let e = app["env"].as_object().unwrap();
    assert_eq!(e["JAVA_OPTS"], "-Xmx512m");
    assert_eq!(e["LOG_LEVEL"], "debug");
    assert_eq!(e["DB_PASSWORD"], json!({"secret": "db-password"}));
    assert_eq!(e["ORCHESTRATION"], "marathon");
    assert_eq!(
        e["EPHEMERAL_STORE_USER"],
        r#"{ "name" : "myuser", "auth_mode" : "certificate" }"#
    );
    let (ca_cert, ca_key) = env.ca_files();
    assert_eq!(
        e["EPHEMERAL_STORE_ROOT_CA_CERT"],
        std::fs::read_to_string(ca_cert).unwrap().as_str()
    );
    assert_eq!(
        e["EPHEMERAL_STORE_ROOT_CA_KEY"],
        std::fs::read_to_string(ca_key).unwrap().as_str()
    );
    assert_eq!(e.len(), 7);
    // Fields the PUT did not carry are Marathon's as before.
    assert_eq!(app["secrets"], running_app()["secrets"]);
    assert_eq!(app["instances"], 5);

    // A second deploy changes nothing more and still keeps all seven.
    deploy(&env, &fake, &[]).ok();
    assert_eq!(fake.app(APP).unwrap()["env"].as_object().unwrap().len(), 7);
}

fn put_and_post_bodies_validate_against_the_marathon_1_3_9_schema(backend: Backend) {
    let v = common::marathon_schema("1.3.9");
    // The validator is real: it refuses what Marathon refuses.
    assert!(
        !v.is_valid(&json!({"id": APP, "env": {"N": 5}})),
        "numbers in env must fail"
    );
    assert!(!v.is_valid(&json!({"env": {}})), "id is required");
    assert!(
        !v.is_valid(&running_app()),
        "GET's read-only fields must fail"
    );

    let env = store_on(backend);
    let fake = Fake::start(running());
    deploy(&env, &fake, &["--force"]).ok();
    common::assert_app_valid("1.3.9", &fake.seen()[1].json());

    let fake = Fake::start(Behaviour::default());
    deploy(
        &env,
        &fake,
        &["--create", "--app-id", "/asp/ephemeral-store"],
    )
    .ok();
    let post = &fake.seen()[1];
    assert_eq!(
        (post.method.as_str(), post.target.as_str()),
        ("POST", "/v2/apps")
    );
    common::assert_app_valid("1.3.9", &post.json());
}

#[test]
fn conflict_409_says_a_deployment_is_in_progress_and_force_sends_force_true() {
    let env = store();
    let fake = Fake::start(Behaviour {
        busy: true,
        ..running()
    });
    let run = deploy(&env, &fake, &[]);
    run.code(4).one_line_error(&[
        "deployment of /ephemeral-store is in progress",
        "409",
        "--force",
    ]);
    assert_eq!(
        fake.app(APP).unwrap()["env"],
        running_app()["env"],
        "nothing changed"
    );
    assert!(fake.seen()[1].target.ends_with("/v2/apps/ephemeral-store"));

    let run = deploy(&env, &fake, &["--force"]);
    run.ok();
    assert_eq!(fake.seen()[3].method, "PUT");
    assert_eq!(fake.seen()[3].target, "/v2/apps/ephemeral-store?force=true");
    assert_eq!(fake.app(APP).unwrap()["env"]["ORCHESTRATION"], "marathon");
}

#[test]
fn a_missing_app_is_refused_unless_create_posts_the_full_app() {
    let env = store();
    let fake = Fake::start(Behaviour::default());
    deploy(&env, &fake, &[])
        .code(2)
        .one_line_error(&["has no app /ephemeral-store", "--create"]);
    assert_eq!(fake.methods(), ["GET"]);
    assert!(fake.app(APP).is_none());

    let run = deploy(
        &env,
        &fake,
        &["--create", "--json", "--image", "registry.local/es:1.1.0"],
    );
    run.ok();
    let doc: crate::support::docs::DeployDoc = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (doc.action.as_str(), doc.method.as_str(), doc.status),
        ("create", "POST", Some(201))
    );
    assert_eq!(doc.deployment_id.as_deref(), Some(POST_DEPLOYMENT));
    let app = fake.app(APP).unwrap();
    assert_eq!(app["id"], APP);
    assert_eq!(app["instances"], 5);
    assert_eq!(
        app["container"]["docker"]["image"],
        "registry.local/es:1.1.0"
    );
    assert_eq!(app["env"]["ORCHESTRATION"], "marathon");

    // --create on an app that exists is an update (--force-restart: the
    // env is what the POST set, unchanged).
    deploy(&env, &fake, &["--create", "--force-restart"]).ok();
    assert_eq!(fake.methods(), ["GET", "GET", "POST", "GET", "PUT"]);
}

#[test]
fn credentials_401_403_and_the_token_header() {
    let mut env = store();
    let fake = Fake::start(Behaviour {
        token: Some("tok.en-123".into()),
        ..running()
    });
    deploy(&env, &fake, &[]).code(1).one_line_error(&[
        "401 Unauthorized",
        "sent no credentials",
        "--token-file",
        "DCOS_ACS_TOKEN",
    ]);

    std::fs::write(env.path("token"), "tok.en-123\n").unwrap();
    deploy(&env, &fake, &["--token-file", "token"]).ok();
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.header("authorization") == Some("token=tok.en-123")),
        "{seen:?}"
    );

    env.var("DCOS_ACS_TOKEN", "tok.en-123");
    // --force-restart: the env is already what the deploy above set.
    deploy(&env, &fake, &["--force-restart"]).ok();
    assert_eq!(
        fake.seen()[4].header("authorization"),
        Some("token=tok.en-123")
    );

    env.var("DCOS_ACS_TOKEN", "wrong");
    deploy(&env, &fake, &["--force-restart"])
        .code(1)
        .one_line_error(&["401", "sent a token"]);

    // Basic auth from a credentials file; a server that forbids the change.
    let fake = Fake::start(Behaviour {
        forbid: true,
        ..running()
    });
    std::fs::write(env.path("creds"), "admin:s3cret\n").unwrap();
    deploy(&env, &fake, &["--credentials-file", "creds"])
        .code(1)
        .one_line_error(&["403 Forbidden", "permission"]);
    assert_eq!(
        fake.seen()[0].header("authorization"),
        Some("Basic YWRtaW46czNjcmV0")
    );
    assert_eq!(fake.app(APP).unwrap()["env"], running_app()["env"]);
}

#[test]
fn validation_422_prints_marathons_own_message() {
    let env = store();
    let fake = Fake::start(Behaviour {
        reject: true,
        ..running()
    });
    let run = deploy(&env, &fake, &[]);
    run.code(2).one_line_error(&[
        "422",
        "Object is not valid",
        "/env(OTHER): error.expected.jsstring",
    ]);
    assert!(!run.stderr.contains("BEGIN"), "no request body in messages");
}

fn dry_run_prints_the_request_with_the_key_redacted_and_sends_no_change(backend: Backend) {
    let env = store_on(backend);
    let fake = Fake::start(running());
    let run = deploy(&env, &fake, &["--dry-run", "--force"]);
    run.ok();
    assert_no_key(&run.stdout);
    let (first, rest) = run.stdout.split_once('\n').unwrap();
    assert_eq!(
        first,
        format!("PUT {}/v2/apps/ephemeral-store?force=true", fake.url())
    );
    let body: Value = serde_json::from_str(rest).unwrap();
    assert_eq!(
        body["env"]["EPHEMERAL_STORE_ROOT_CA_KEY"],
        "<redacted: root CA private key>"
    );
    assert!(body["env"]["EPHEMERAL_STORE_ROOT_CA_CERT"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(body["env"]["JAVA_OPTS"], "-Xmx512m");
    assert!(run.stderr.contains("dry run"), "{}", run.stderr);

    let run = deploy(&env, &fake, &["--dry-run", "--json"]);
    run.ok();
    assert_no_key(&run.stdout);
    let doc: crate::support::docs::DeployDoc = serde_json::from_str(&run.stdout).unwrap();
    assert!(doc.dry_run);
    assert_eq!((doc.status, doc.deployment_id), (None, None));
    assert_eq!(
        doc.body.unwrap()["env"]["EPHEMERAL_STORE_ROOT_CA_KEY"],
        "<redacted: root CA private key>"
    );

    assert_eq!(fake.methods(), ["GET", "GET"], "a dry run only reads");
    assert_eq!(fake.app(APP).unwrap(), running_app());

    // With --create and no app: the POST it would send.
    let fake = Fake::start(Behaviour::default());
    let run = deploy(&env, &fake, &["--dry-run", "--create"]);
    run.ok();
    assert!(
        run.stdout
            .starts_with(&format!("POST {}/v2/apps\n", fake.url())),
        "{}",
        run.stdout
    );
    assert_no_key(&run.stdout);
    assert_eq!(fake.methods(), ["GET"]);
}

#[test]
fn refused_connections_and_timeouts_are_one_line_exit_1() {
    let env = store();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    env.run(&["deploy", "marathon", "--url", &url])
        .code(1)
        .one_line_error(&["cannot connect", &url, "connection refused", "check --url"]);

    let fake = Fake::start(Behaviour {
        stall: true,
        ..running()
    });
    deploy(&env, &fake, &["--timeout", "1"])
        .code(1)
        .one_line_error(&["no answer from", "within 1 s", "--timeout"]);
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let env = store();
    let fake = Fake::start(running());
    let url = fake.url();
    std::fs::write(env.path("empty"), "").unwrap();
    std::fs::write(env.path("notpem"), "hello").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--url", "marathon:8080"], "not an http"),
        (vec!["--url", "http://user:pw@127.0.0.1:1"], "credentials"),
        (
            vec!["--url", &url, "--app-id", "/Bad_App"],
            "not a valid Marathon app id",
        ),
        (
            vec!["--url", &url, "--token-file", "missing"],
            "cannot read missing",
        ),
        (
            vec!["--url", &url, "--token-file", "empty"],
            "does not hold a token",
        ),
        (
            vec!["--url", &url, "--credentials-file", "notpem"],
            "user:password",
        ),
        (
            vec!["--url", &url, "--ca-cert", "notpem"],
            "--ca-cert is for https",
        ),
        (
            vec!["--url", "https://127.0.0.1:1", "--ca-cert", "notpem"],
            "holds no PEM certificate",
        ),
        (vec!["--url", &url, "--user", "nobody"], "nobody"),
    ];
    for (args, want) in cases {
        let mut full = vec!["deploy", "marathon"];
        full.extend_from_slice(&args);
        env.run(&full).code(2).one_line_error(&[want]);
    }
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[test]
fn https_with_a_private_ca() {
    let env = store();
    let (cfg, ca_path) = private_tls(env.root());
    let fake = Fake::spawn(Behaviour { ..running() }, Some(cfg));
    assert!(fake.url().starts_with("https://"));

    deploy(&env, &fake, &[])
        .code(1)
        .one_line_error(&["TLS with", "--ca-cert"]);
    assert!(
        fake.seen().is_empty(),
        "no request over an untrusted connection"
    );

    deploy(&env, &fake, &["--ca-cert", ca_path.to_str().unwrap()]).ok();
    assert_eq!(fake.methods(), ["GET", "PUT"]);
    assert_eq!(fake.app(APP).unwrap()["env"]["ORCHESTRATION"], "marathon");
}

#[test]
fn the_rotate_and_deploy_cron_line_of_deploy_md_works_as_written() {
    // A store whose user is due at the line's run (90-day certificate, day 70).
    let mut env = Env::new();
    env.var("PKI_NOW", "2026-01-01T00:00:00Z");
    env.run(&["init"]).ok();
    env.run(&["issue", "myuser", "--days", "90"]).ok();
    let (cfg, ca_path) = private_tls(env.root());
    let token = env.path("token");
    std::fs::write(&token, "s3cr3t-token\n").unwrap();
    let fake = Fake::spawn(
        Behaviour {
            token: Some("s3cr3t-token".into()),
            ..running()
        },
        Some(cfg),
    );
    // The line with the deploy inline (the controller's, with its hook, is
    // docs_as_printed::deploy's).
    let lines: Vec<String> = common::cron_lines(&common::page("docs/deploy.md"))
        .into_iter()
        .filter(|l| l.contains("deploy marathon --url"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let r = env.root().display().to_string();
    let line = common::localise(
        &common::cron_command(&lines[0]),
        &[
            ("/usr/local/bin/pki", common::PKI.to_string()),
            ("/srv/pki-deploy/ca.crt", ca_path.display().to_string()),
            ("/srv/pki-deploy/token", token.display().to_string()),
            ("/srv/pki", format!("{r}/pki")),
            ("https://marathon.example:8443", fake.url()),
            ("/var/log/pki.log", format!("{r}/pki.log")),
        ],
    );
    let clock = [
        ("PKI_NOW", "2026-03-12T00:00:00Z"),
        (common::ALLOW_NOW, "1"),
    ];
    let out = common::run_as_cron(&line, &clock, env.root());
    let log = std::fs::read_to_string(env.path("pki.log")).unwrap_or_default();
    assert!(out.status.success(), "{out:?}\n{log}");
    assert_no_key(&log);
    assert_eq!(fake.methods(), ["GET", "PUT"], "{log}");
    let app = fake.app(APP).unwrap();
    assert_eq!(
        app["env"]["EPHEMERAL_STORE_USER"],
        "{ \"name\" : \"myuser\", \"auth_mode\" : \"certificate\" }"
    );
    assert_eq!(app["env"]["JAVA_OPTS"], "-Xmx512m");
    // The rotation happened: one line on stdout (into the log) per user.
    assert!(
        log.lines()
            .any(|l| l.starts_with("rotated") && l.contains(" myuser ")),
        "{log}"
    );
}

/// A Marathon that serves its own self-signed CA certificate as its server certificate.
fn self_signed_tls(dir: &std::path::Path) -> (Arc<rustls::ServerConfig>, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    let path = dir.join("marathon-self.crt");
    std::fs::write(&path, cert.pem()).unwrap();
    (fake_marathon::server_config(&cert, &key), path)
}

#[test]
fn a_self_signed_marathon_certificate_is_explained_in_words() {
    let env = store();
    let (cfg, cert) = self_signed_tls(env.root());
    let fake = Fake::spawn(running(), Some(cfg));
    let run = deploy(&env, &fake, &["--ca-cert", cert.to_str().unwrap()]);
    run.code(1);
    assert_eq!(
        run.stderr,
        format!(
            "pki: error: TLS with {}/v2/apps/ephemeral-store failed: Marathon's certificate is a CA \
             certificate used as a server certificate, which TLS clients refuse; give Marathon a \
             server certificate issued by that CA, and keep passing the CA with --ca-cert\n",
            fake.url()
        )
    );
    assert!(fake.seen().is_empty());
}

crate::each_backend!(
    update_sets_the_four_keys_and_loses_no_other_variable,
    put_and_post_bodies_validate_against_the_marathon_1_3_9_schema,
    dry_run_prints_the_request_with_the_key_redacted_and_sends_no_change,
);
