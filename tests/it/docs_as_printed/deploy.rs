//! docs/deploy.md and docs/rotation.md work as written for the ASP
//! controller: the cron line, its hook and the CA rotation command are
//! taken from the pages, their paths pointed into a scratch directory and
//! Marathon's URL at the test Marathon (https, with a private CA and a
//! token, as the pages have it), and run under cron's bare environment,
//! `env -i PATH=/usr/bin:/bin`. So are the `export asp` examples.

use crate::support::common;
use crate::support::fake_marathon;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use common::{Env, PKI};
use fake_marathon::{private_tls, Behaviour, Fake};
use serde_json::{json, Value};

const STORE_APP: &str = "/ephemeral-store";
const CTLR: &str = "/marathon-asp-ctlr";
const TOKEN: &str = "tok.en-123";

/// The one block of `lang` in `page` that mentions `marker`.
fn block(page: &str, lang: &str, marker: &str) -> String {
    let found: Vec<String> = common::doc_blocks(page, lang)
        .into_iter()
        .filter(|b| b.contains(marker))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{page}: one ```{lang} block with {marker:?}"
    );
    found.into_iter().next().unwrap()
}

struct Scratch {
    env: Env,
    url: String,
}

impl Scratch {
    fn root(&self) -> PathBuf {
        self.env.root().to_path_buf()
    }

    /// The pages' paths and Marathon, pointed into the scratch directory and at the fake.
    fn localise(&self, text: &str) -> String {
        let r = self.env.root().display().to_string();
        text.replace(
            "/usr/local/bin/pki-deploy-marathon",
            &format!("{r}/bin/pki-deploy-marathon"),
        )
        .replace("/usr/local/bin/pki", PKI)
        .replace("/var/lib/pki/ephemeral-store", &format!("{r}/pki"))
        .replace("/var/log/pki.log", &format!("{r}/pki.log"))
        .replace("/srv/pki-deploy", &format!("{r}/deploy"))
        .replace("https://marathon.example:8443", &self.url)
        .replace("http://marathon.mesos:8080", &self.url)
    }

    /// Run a command line as cron does: `sh -c`, with nothing in the
    /// environment but cron's PATH.
    fn cron(&self, line: &str) -> std::process::Output {
        Command::new("env")
            .args(["-i", "PATH=/usr/bin:/bin", "sh", "-c"])
            .arg(self.localise(line))
            .current_dir(self.env.root())
            .output()
            .unwrap()
    }
}

#[track_caller]
fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn value(app: &Value) -> Value {
    serde_json::from_str(app["env"]["ASP_EPHEMERAL_STORE"].as_str().unwrap()).unwrap()
}

/// RFC 3339 for `days` days before now.
fn days_ago(days: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn put_targets(fake: &Fake) -> Vec<String> {
    fake.seen()
        .iter()
        .filter(|s| s.method == "PUT")
        .map(|s| s.target.clone())
        .collect()
}

#[test]
fn the_cron_line_the_hook_and_the_ca_rotation_work_as_written() {
    // The pages show the same cron line and CA rotation.
    let cron = block("deploy.md", "cron", "pki-deploy-marathon");
    assert_eq!(cron, block("rotation.md", "cron", "pki-deploy-marathon"));
    let rotate_ca = block("deploy.md", "shell", "rotate --ca");
    assert_eq!(rotate_ca, block("rotation.md", "shell", "rotate --ca"));
    let hook = block(
        "deploy.md",
        "sh",
        "#!/bin/sh\n# Run by `pki rotate --on-change`",
    );
    for text in [&cron, &rotate_ca, &hook] {
        assert!(
            !text
                .split_whitespace()
                .any(|w| w == "pki" || w.starts_with("pki ")),
            "bare pki in a line cron runs: {text}"
        );
    }

    // A store whose users were issued 40 days ago for 30 days: due now, in real time.
    // (The pages' store directory becomes the scratch store, <root>/pki.)
    let mut env = Env::new();
    env.var("PKI_NOW", &days_ago(40));
    env.run(&["init"]).ok();
    env.run(&["issue", "myuser", "alice", "--days", "30"]).ok();
    env.vars.retain(|(k, _)| k != "PKI_NOW");

    // The test Marathon over https with its own CA and a token, holding the
    // store app and the controller (which has another user and variables).
    let (tls, marathon_ca) = private_tls(env.root());
    let other = Env::with_users(&["legacy"]);
    let (legacy_crt, legacy_key) = other.user_files("legacy");
    let legacy = json!({"key": std::fs::read_to_string(legacy_key).unwrap(),
                        "cert": std::fs::read_to_string(legacy_crt).unwrap()});
    let store_app = json!({"id": STORE_APP, "instances": 5, "env": {"JAVA_OPTS": "-Xmx512m"}});
    let ctlr_app = json!({"id": CTLR, "instances": 1, "env": {
        "MARATHON_URL": "http://marathon.mesos:8080",
        "ASP_ENABLE_LABEL": "f5-asp",
        "ASP_EPHEMERAL_STORE": json!({"host": "store.internal", "port": 8087,
            "users": {"legacy": legacy}, "root-ca": "old"}).to_string()}});
    let fake = Fake::spawn(
        Behaviour {
            token: Some(TOKEN.into()),
            ..Behaviour::with_apps(&[store_app.clone(), ctlr_app.clone()])
        },
        Some(tls),
    );
    let s = Scratch {
        env,
        url: fake.url(),
    };
    let root = s.root();
    for d in ["bin", "deploy"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&marathon_ca, root.join("deploy/ca.crt")).unwrap();
    std::fs::write(root.join("deploy/token"), format!("{TOKEN}\n")).unwrap();
    let hook_path = root.join("bin/pki-deploy-marathon");
    std::fs::write(&hook_path, s.localise(&hook)).unwrap();
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();

    // cron: the line's command, as cron runs it.
    let fields: Vec<&str> = cron.trim().splitn(6, ' ').collect();
    assert_eq!(&fields[..5], ["17", "3", "*", "*", "*"]);
    ok(&s.cron(fields[5]));
    let log = std::fs::read_to_string(root.join("pki.log")).unwrap();
    assert!(!log.contains("error"), "{log}");
    // A user rotation: only the controller, with both re-issued users.
    assert_eq!(put_targets(&fake), [format!("/v2/apps{CTLR}")]);
    assert_eq!(fake.app(STORE_APP).unwrap(), store_app);
    let now = fake.app(CTLR).unwrap();
    let v = value(&now);
    assert_eq!(v["host"], "store.internal", "kept");
    assert_eq!(v["users"]["legacy"], legacy, "the other user survives");
    assert_eq!(
        now["env"]["ASP_ENABLE_LABEL"], "f5-asp",
        "other variables survive"
    );
    for u in ["myuser", "alice"] {
        let (crt, _) = s.env.user_files(u);
        assert_eq!(
            v["users"][u]["cert"],
            std::fs::read_to_string(crt).unwrap().as_str(),
            "{u}"
        );
    }
    let (ca_crt, _) = s.env.ca_files();
    assert_eq!(
        v["root-ca"],
        std::fs::read_to_string(&ca_crt).unwrap().as_str()
    );

    // Run again at once: nothing is due, nothing is sent.
    ok(&s.cron(fields[5]));
    assert_eq!(put_targets(&fake).len(), 1);

    // The CA rotation: the store first, then the controller.
    ok(&s.cron(rotate_ca.trim()));
    assert_eq!(
        put_targets(&fake)[1..],
        [format!("/v2/apps{STORE_APP}"), format!("/v2/apps{CTLR}")]
    );
    let (new_ca, _) = s.env.ca_files();
    assert_ne!(new_ca, ca_crt);
    let new_ca_pem = std::fs::read_to_string(&new_ca).unwrap();
    let store_now = fake.app(STORE_APP).unwrap();
    assert_eq!(
        store_now["env"]["EPHEMERAL_STORE_ROOT_CA_CERT"],
        new_ca_pem.as_str()
    );
    assert_eq!(store_now["env"]["JAVA_OPTS"], "-Xmx512m");
    let v = value(&fake.app(CTLR).unwrap());
    assert_eq!(v["root-ca"], new_ca_pem.as_str());
    assert_eq!(v["users"]["legacy"], legacy);
    for u in ["myuser", "alice"] {
        let crt = root.join(format!("{u}.pem"));
        std::fs::write(&crt, v["users"][u]["cert"].as_str().unwrap()).unwrap();
        let (ok, said) = common::openssl_verify_client(&new_ca, &crt);
        assert!(ok, "{u}: {said}");
    }
}

#[test]
fn the_export_asp_examples_work_as_written() {
    let mut env = Env::with_users(&["myuser", "alice", "bob"]);
    env.var("PKI_DIR", env.store().to_str().unwrap());
    let ctlr = json!({"id": CTLR, "env": {"MARATHON_URL": "http://marathon.mesos:8080",
        "ASP_EPHEMERAL_STORE": json!({"host": "h", "port": 8087, "users": {}, "root-ca": ""}).to_string()}});
    std::fs::write(env.path("ctlr.json"), ctlr.to_string()).unwrap();
    let fake = Fake::start(Behaviour::with_apps(std::slice::from_ref(&ctlr)));
    let s = Scratch {
        env,
        url: fake.url(),
    };
    let pki_on_path = s.root().join("bin");
    std::fs::create_dir_all(&pki_on_path).unwrap();
    std::os::unix::fs::symlink(PKI, pki_on_path.join("pki")).unwrap();
    let run = |line: &str| {
        let out = Command::new("sh")
            .arg("-ec")
            .arg(s.localise(line))
            .current_dir(s.root())
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", pki_on_path.display()))
            .env("PKI_DIR", s.env.store())
            .output()
            .unwrap();
        ok(&out);
        out
    };

    let examples = block(
        "deploy.md",
        "sh",
        "pki export asp --user alice bob --format app",
    );
    for line in examples.lines().filter(|l| !l.trim().is_empty()) {
        run(line);
    }
    let app: Value =
        serde_json::from_slice(&std::fs::read(s.root().join("marathon-asp-ctlr.json")).unwrap())
            .unwrap();
    common::assert_app_valid("1.3.9", &app);
    assert_eq!(
        value(&app)["users"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    let merged: Value =
        serde_json::from_slice(&std::fs::read(s.root().join("ctlr.new.json")).unwrap()).unwrap();
    assert_eq!(value(&merged)["host"], "h");
    assert_eq!(put_targets(&fake), [format!("/v2/apps{CTLR}")]);

    // GET | merge, then PUT back with curl, as the page shows.
    let round_trip = block(
        "deploy.md",
        "sh",
        "curl -fsS http://marathon.mesos:8080/v2/apps/marathon-asp-ctlr |",
    );
    run(&round_trip);
    assert_eq!(put_targets(&fake).len(), 2);
    let now = fake.app(CTLR).unwrap();
    assert!(value(&now)["users"].get("myuser").is_some());
}
