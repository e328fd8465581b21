//! docs/rollover.md run as written: its command blocks, with Marathon's
//! URL pointed at the test Marathon and `pki` found on PATH as an installed
//! pki would be, in the order an operator follows them.

use crate::support::common;
use crate::support::fake_marathon;

use std::path::Path;
use std::process::Command;

use common::{Env, PKI};
use fake_marathon::{Behaviour, Fake};

const PAGE: &str = "rollover.md";

/// The one ```sh block of the page that holds `marker`.
fn block(marker: &str) -> String {
    let found: Vec<String> = common::doc_blocks(PAGE, "sh")
        .into_iter()
        .filter(|b| b.contains(marker))
        .collect();
    assert_eq!(found.len(), 1, "one ```sh block with {marker:?}");
    found.into_iter().next().unwrap()
}

/// The command lines of a block (comments and blank lines left out), curl
/// pipelines kept whole.
fn lines(block: &str) -> Vec<String> {
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// The line of the commands block that starts with `cmd` (its `n`th).
fn command(cmd: &str, n: usize) -> String {
    lines(&block("pki rollover start"))
        .into_iter()
        .filter(|l| l.starts_with(cmd))
        .nth(n)
        .unwrap_or_else(|| panic!("{PAGE}: no line {n} starting with {cmd:?}"))
}

/// Run a doc line with `sh -c` in `env`'s scratch directory, `pki` on PATH.
fn run(env: &Env, url: &str, line: &str) -> String {
    let line = line.replace("http://marathon.mesos:8080", url);
    let bin = Path::new(PKI).parent().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(env.root())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("PKI_DIR", env.store())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_rollover_page_works_as_written() {
    let env = Env::with_users(&["myuser"]);
    // The two apps as Marathon holds them before the rollover.
    let store_app = env
        .run(&["export", "marathon", "--user", "myuser", "--format", "app"])
        .json();
    let ctlr_app = env
        .run(&["export", "asp", "--user", "myuser", "--format", "app"])
        .json();
    let fake = Fake::start(Behaviour::with_apps(&[store_app, ctlr_app]));
    let url = fake.url();
    let deploy = lines(&block("pki deploy marathon"));
    let health = lines(&block("/v2/deployments"));
    assert_eq!((deploy.len(), health.len()), (2, 3));

    let deploy_and_check = |phase: &str| {
        for l in &deploy {
            run(&env, &url, l);
        }
        assert_eq!(run(&env, &url, &health[0]).trim(), "[]");
        for l in &health[1..] {
            let v: serde_json::Value = serde_json::from_str(&run(&env, &url, l)).unwrap();
            assert!(v.get("instances").is_some(), "{phase}: {l}: {v}");
        }
        // What Marathon now holds is this phase's material.
        let status: crate::support::docs::RolloverDoc =
            serde_json::from_str(&env.run(&["rollover", "status", "--json"]).stdout).unwrap();
        let app = fake.app("/ephemeral-store").unwrap();
        let ca = app["env"]["EPHEMERAL_STORE_ROOT_CA_CERT"].as_str().unwrap();
        assert_eq!(
            ca.matches("BEGIN CERTIFICATE").count(),
            status.store_ca_certs.len(),
            "{phase}"
        );
        let ctlr = fake.app("/marathon-asp-ctlr").unwrap();
        let inner: serde_json::Value =
            serde_json::from_str(ctlr["env"]["ASP_EPHEMERAL_STORE"].as_str().unwrap()).unwrap();
        let root = inner["root-ca"].as_str().unwrap();
        assert_eq!(
            root.matches("BEGIN CERTIFICATE").count(),
            status.client_root_ca.len(),
            "{phase}"
        );
    };

    run(&env, &url, &command("pki rollover start", 0));
    assert!(run(&env, &url, &command("pki rollover status", 0)).contains("phase: trust"));
    deploy_and_check("trust");
    run(&env, &url, &command("pki rollover advance", 0));
    assert!(run(&env, &url, &command("pki rollover status", 0)).contains("phase: switch"));
    deploy_and_check("switch");
    run(&env, &url, &command("pki rollover advance", 1));
    assert!(run(&env, &url, &command("pki rollover status", 0)).contains("phase: done"));
    deploy_and_check("done");
    env.run(&["verify"]).ok();
    env.run(&["audit", "verify"]).ok();

    // Abort, from trust, on a store of its own.
    let other = Env::with_users(&["myuser"]);
    run(&other, &url, &command("pki rollover start", 0));
    run(&other, &url, &command("pki rollover abort", 0));
    assert!(other.index().rollover.is_none());
}
