//! The docs' unattended command lines work as written: every crontab line,
//! systemd unit and hook is taken from the page's text (support::common's one
//! extractor) and run under `env -i PATH=/usr/bin:/bin`, as cron runs it,
//! with the page's paths pointed into a scratch directory. Every program
//! they call is named by its absolute path, which is what makes them work
//! under cron's PATH.

use crate::support::common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Env, ALLOW_NOW, PKI};

/// docs/rotation.md's fenced blocks of one language.
fn blocks(lang: &str) -> Vec<String> {
    common::doc_blocks("rotation.md", lang)
}

struct Scratch {
    env: Env,
}

impl Scratch {
    /// Point the page's paths into the scratch directory.
    fn localise(&self, text: &str) -> String {
        let r = self.env.root().display().to_string();
        text.replace(
            "/usr/local/bin/pki-redeploy",
            &format!("{r}/bin/pki-redeploy"),
        )
        .replace("/usr/local/bin/pki", PKI)
        .replace("/var/lib/pki/ephemeral-store", &format!("{r}/store"))
        .replace("/var/lib/node_exporter/textfile", &format!("{r}/prom"))
        .replace("/srv/asp", &format!("{r}/srv"))
    }

    /// Run a command line the way its runner would, with cron's bare
    /// environment (`env -i PATH=/usr/bin:/bin`; the clock injected for the
    /// test): `sh -c` (cron) or split on blanks (systemd, which runs
    /// ExecStart= without a shell).
    fn run(&self, line: &str, shell: bool, now: &str) -> std::process::Output {
        let line = self.localise(line);
        let clock = [("PKI_NOW", now), (ALLOW_NOW, "1")];
        if shell {
            return common::run_as_cron(&line, &clock, self.env.root());
        }
        let mut c = Command::new("env");
        c.arg("-i").arg("PATH=/usr/bin:/bin");
        for (k, v) in clock {
            c.arg(format!("{k}={v}"));
        }
        c.args(line.split_whitespace())
            .env_clear()
            .current_dir(self.env.root());
        c.output().unwrap()
    }
}

fn stored(env: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.root().join("store/index.json")).unwrap()).unwrap()
}

#[test]
fn the_crontab_line_the_systemd_service_and_the_hook_work_as_written() {
    let mut env = Env::new();
    env.var("PKI_DIR", env.root().join("store").to_str().unwrap());
    env.var("PKI_NOW", "2026-01-01T00:00:00Z");
    env.run(&["init"]).ok();
    env.run(&["issue", "myuser", "alice", "--days", "90"]).ok();
    let s = Scratch { env };
    let root = s.env.root().to_path_buf();
    // No `pki` on any PATH: the lines must name it by its path.
    for d in ["bin", "prom", "srv/certs"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let hook = s.localise(&blocks("sh")[0]);
    std::fs::write(root.join("bin/pki-redeploy"), hook).unwrap();
    std::fs::set_permissions(
        root.join("bin/pki-redeploy"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let app = s
        .env
        .run(&["export", "marathon", "--format", "app", "--user", "myuser"]);
    std::fs::write(root.join("srv/ephemeral-store.json"), &app.ok().stdout).unwrap();

    // systemd: ExecStart and ExecStartPost of the service, with its Environment=.
    let service = &blocks("ini")[0];
    let setting = |key: &str| {
        service
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in the service"))
            .to_string()
    };
    assert_eq!(
        setting("Environment"),
        "PKI_DIR=/var/lib/pki/ephemeral-store"
    );
    let day70 = "2026-03-12T00:00:00Z";
    // systemd passes Environment=; emulate by prefixing it for the split run.
    let exec = format!("env {} {}", setting("Environment"), setting("ExecStart"));
    let out = s.run(&exec, false, day70);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One line per rotation on stdout: cron mails (or the journal keeps) a record.
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.lines().filter(|l| l.starts_with("rotated")).count(),
        2,
        "{said}"
    );
    for u in ["myuser", "alice"] {
        let crt = root.join(format!("srv/certs/{u}/{u}.crt"));
        let (ok, msg) = common::openssl(&[
            "verify",
            "-attime",
            "1773300000",
            "-CAfile",
            root.join(format!("srv/certs/{u}/ca.crt")).to_str().unwrap(),
            crt.to_str().unwrap(),
        ]);
        assert!(ok, "{u}: {msg}");
    }
    let hook_said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        hook_said.contains("pki-redeploy: new serials: alice=")
            && hook_said.contains("(CA rotated: 0)"),
        "{hook_said}"
    );

    let post = setting("ExecStartPost");
    let post = post
        .strip_prefix('-')
        .expect("failure of the check is ignored");
    let out = s.run(
        &format!("env {} {post}", setting("Environment")),
        false,
        day70,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = std::fs::read_to_string(root.join("prom/pki.prom")).unwrap();
    assert!(
        prom.contains("pki_certificate_not_after_seconds{user=\"alice\""),
        "{prom}"
    );

    // cron: the crontab line's command, run by sh, 90 days later (due again).
    let crontab = blocks("crontab").remove(0);
    let cron: Vec<&str> = crontab
        .lines()
        .filter(|l| common::is_cron_line(l))
        .collect();
    assert_eq!(cron.len(), 1, "{cron:?}");
    assert!(cron[0].starts_with("17 3 * * * "), "{}", cron[0]);
    let command = common::cron_command(cron[0]);
    let before = stored(&s.env)["certificates"].as_array().unwrap().len();
    let out = s.run(&command, true, "2026-06-01T00:00:00Z");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stored(&s.env)["certificates"].as_array().unwrap().len(),
        before + 2
    );
    // ... and again at once: nothing to do, nothing printed.
    let out = s.run(&command, true, "2026-06-01T00:00:00Z");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );

    // The hook after a CA rotation updates the app definition's env.
    let rot = format!("{PKI} -q rotate --ca --force --on-change /usr/local/bin/pki-redeploy");
    let out = s.run(
        &format!("PKI_DIR=/var/lib/pki/ephemeral-store {rot}"),
        true,
        "2026-06-02T00:00:00Z",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("srv/ephemeral-store.json")).unwrap())
            .unwrap();
    let ca_pem = std::fs::read_to_string(
        root.join("store")
            .join(stored(&s.env)["ca"]["cert"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(
        app["env"]["EPHEMERAL_STORE_ROOT_CA_CERT"]
            .as_str()
            .unwrap()
            .trim(),
        ca_pem.trim()
    );
}

/// Every line a runner other than your login shell executes, by page: cron
/// lines everywhere, systemd Exec*= lines, and hook scripts (`#!` blocks).
fn unattended_lines() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, text) in common::pages() {
        for l in common::cron_lines(&text) {
            out.push((name.clone(), common::cron_command(&l)));
        }
        for (lang, block) in common::code_blocks(&text) {
            if lang == "ini" {
                for l in block.lines().filter(|l| l.starts_with("Exec")) {
                    let cmd = l.split_once('=').unwrap().1.trim_start_matches('-');
                    out.push((name.clone(), cmd.to_string()));
                }
            }
            if block.starts_with("#!") {
                for l in block.lines().skip(1) {
                    let l = l.trim();
                    if !l.is_empty() && !l.starts_with('#') {
                        out.push((name.clone(), l.to_string()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_cron_line_systemd_unit_and_hook_in_the_docs_names_pki_by_its_path() {
    let lines = unattended_lines();
    assert!(lines.len() >= 10, "{lines:?}");
    for (page, line) in &lines {
        // `pki` (or `pki-redeploy`) as a bare word is a program looked up in
        // PATH; cron's PATH has no /usr/local/bin.
        let bare = line
            .split(|c: char| c.is_whitespace() || "'\"`;|&()".contains(c))
            .find(|w| *w == "pki" || *w == "pki-redeploy");
        assert!(
            bare.is_none(),
            "{page}: `pki` is called by name in {line:?}; cron's PATH is /usr/bin:/bin, name it by its path"
        );
    }
    // Every cron line of the docs is run by a test of this file or of
    // deploy_marathon; a new one needs a test here.
    let mut cron: Vec<(String, String)> = common::pages()
        .into_iter()
        .flat_map(|(n, t)| {
            common::cron_lines(&t)
                .into_iter()
                .map(move |l| (n.clone(), l))
        })
        .collect();
    cron.sort();
    let pages: Vec<&str> = cron.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        pages,
        [
            // deploy.md's own line (deploy_marathon) and the controller's (docs_as_printed::deploy)
            "docs/deploy.md",
            "docs/deploy.md",
            "docs/quickstart.md",
            "docs/revocation.md",
            // the controller's line again (docs_as_printed::deploy), and the crontab here
            "docs/rotation.md",
            "docs/rotation.md",
            "docs/security.md"
        ],
        "{cron:#?}"
    );
}

/// Scratch paths for the docs' `/etc/pki/ephemeral-store`, `/srv/crl` and
/// `/var/lib/pki/ephemeral-store`, and a store there with two users.
fn crl_scratch() -> (Env, Vec<(&'static str, String)>) {
    let env = Env::new();
    let r = env.root().display().to_string();
    let map = vec![
        ("/usr/local/bin/pki", PKI.to_string()),
        ("/etc/pki/ephemeral-store", format!("{r}/pki")),
        ("/var/lib/pki/ephemeral-store", format!("{r}/pki")),
        ("/srv/crl", format!("{r}/crl")),
        ("/usr/bin/logger", format!("{r}/bin/logger")),
    ];
    env.run(&[
        "init",
        "--crl-url",
        "http://crl.example.internal:8911/rootCA.crl",
    ])
    .ok();
    env.run(&["issue", "alice", "bob"]).ok();
    env.run(&["revoke", "bob"]).ok();
    std::fs::create_dir_all(env.path("crl")).unwrap();
    (env, map)
}

#[test]
fn the_crl_cron_line_of_quickstart_and_revocation_publishes_a_fresh_der_crl() {
    for page in ["docs/quickstart.md", "docs/revocation.md"] {
        let (env, map) = crl_scratch();
        let lines = common::cron_lines(&common::page(page));
        let line = lines
            .iter()
            .find(|l| l.contains(" crl "))
            .unwrap_or_else(|| panic!("{page} has a crl cron line"));
        let out = common::run_as_cron(
            &common::localise(&common::cron_command(line), &map),
            &[],
            env.root(),
        );
        assert!(
            out.status.success(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let crl = env.path("crl/rootCA.crl");
        let (ok, text) = common::openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl.to_str().unwrap(),
            "-noout",
            "-text",
        ]);
        assert!(
            ok && text.contains("Revoked Certificates"),
            "{page}: {text}"
        );
        // Run again (the next day's run): the CRL is replaced, not refused.
        let out = common::run_as_cron(
            &common::localise(&common::cron_command(line), &map),
            &[],
            env.root(),
        );
        assert!(out.status.success(), "{page}: {out:?}");
    }
}

#[test]
fn the_audit_cron_line_ships_the_chain_head() {
    let (env, map) = crl_scratch();
    // Stand-in for logger(1): keep what it was given.
    std::fs::create_dir_all(env.path("bin")).unwrap();
    let logger = env.path("bin/logger");
    std::fs::write(
        &logger,
        format!(
            "#!/bin/sh\necho \"$*\" >> {0}/logged\n/bin/cat >> {0}/logged\n",
            env.root().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&logger, std::fs::Permissions::from_mode(0o755)).unwrap();
    let lines = common::cron_lines(&common::page("docs/security.md"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let out = common::run_as_cron(
        &common::localise(&common::cron_command(&lines[0]), &map),
        &[],
        env.root(),
    );
    assert!(out.status.success(), "{out:?}");
    let head = env.run(&["audit", "verify", "--json"]).json()["last_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let logged = std::fs::read_to_string(env.path("logged")).unwrap();
    assert_eq!(logged, format!("-t pki-audit\n{head}\n"));
}
